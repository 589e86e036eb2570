"""Signers: substrate-interface ``Keypair`` objects, and secret URIs with a dev-chain guard.

The well-known development accounts (``//Alice`` ... derived from the public dev phrase) have
public secrets; they are accepted only on a chain that says it is a development chain, so a
typo'd ``--url`` cannot make a live chain see them. Secrets are never logged or put in messages.
"""

from __future__ import annotations

from substrateinterface import Keypair, KeypairType

from phala_agents.errors import KeystoreError

# The public phrase that //Alice, //Bob, ... derive from (Substrate's DEV_PHRASE).
DEV_PHRASE = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"

DEV_CHAIN_TYPES = frozenset({"Development"})
DEV_CHAIN_NAMES = frozenset({"Development", "Local Testnet"})

_CRYPTO = {"sr25519": KeypairType.SR25519, "ed25519": KeypairType.ED25519, "ecdsa": KeypairType.ECDSA}


def is_dev_uri(suri: str) -> bool:
    """True for URIs that derive from the public dev phrase: ``//Alice``, ``/x``, ``DEV_PHRASE//y``."""
    text = suri.strip()
    return text.startswith("/") or text == DEV_PHRASE or text.startswith(DEV_PHRASE + "/")


def is_dev_chain(chain_type: str | None, chain_name: str | None) -> bool:
    """What the node says about itself: ``system_chainType`` or the chain name of a dev spec."""
    return (chain_type in DEV_CHAIN_TYPES) or (chain_name in DEV_CHAIN_NAMES)


def keypair_from_uri(suri: str, *, dev_chain: bool, crypto: str = "sr25519") -> Keypair:
    """Build a keypair from a secret URI, a mnemonic or a 0x seed.

    Raises ``KeystoreError`` for a dev URI on a non-development chain or an unreadable secret;
    the message never contains the secret.
    """
    if crypto not in _CRYPTO:
        raise ValueError(f"crypto: found {crypto!r}, wanted one of {sorted(_CRYPTO)}")
    if is_dev_uri(suri) and not dev_chain:
        raise KeystoreError(
            "suri: found a development account URI (derived from the public dev phrase), "
            "wanted a real secret: the node does not say it is a development chain"
        )
    text = suri.strip()
    try:
        if text.startswith("0x") and "/" not in text:
            return Keypair.create_from_seed(text, crypto_type=_CRYPTO[crypto])
        return Keypair.create_from_uri(text, crypto_type=_CRYPTO[crypto])
    except Exception as exc:
        # Deliberately not chained: the library's message may quote the secret.
        raise KeystoreError(
            f"suri: found an unreadable secret ({type(exc).__name__}), wanted a URI like "
            "'<mnemonic>//hard/soft', a mnemonic or a 0x-prefixed 32-byte seed"
        ) from None
