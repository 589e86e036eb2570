"""Weights: every call has one that fits a block, length-dependent ones grow, ``UnitWeights`` can be
injected through a pallet's Config."""

from __future__ import annotations

from typing import cast

import pytest
from chain_harness import MiniChain
from substrateinterface import Keypair

from phala_agents.chain import DEV_ACCOUNTS, ApplyOutcome, DevRuntime, StorageOverlay
from phala_agents.chain.frame import (
    UNIT_WEIGHT,
    Call,
    FromWeightInfo,
    UnitWeights,
)
from phala_agents.chain.pallets import (
    Balances,
    BalancesConfig,
    Sudo,
    SudoConfig,
    System,
    SystemConfig,
    Timestamp,
    TimestampConfig,
)
from phala_agents.chain.runtime import runtime_version_dict

BOB = DEV_ACCOUNTS["Bob"]
STANDARD = (System, Timestamp, Balances, Sudo)
TRANSFER = Call(pallet="Balances", name="transfer_keep_alive", args={"dest": ("Id", BOB), "value": 10**12})
# The largest argument each length-dependent call takes in a normal extrinsic (length limit
# 3.75 MiB); set_storage/kill_storage are Root calls, bounded by what a sudo key would send.
LARGEST_ARGS: dict[tuple[str, str], dict[str, object]] = {
    ("System", "remark"): {"remark": bytes(3 * 1024 * 1024)},
    ("System", "remark_with_event"): {"remark": bytes(3 * 1024 * 1024)},
    ("System", "set_storage"): {"items": [(b"k", b"v")] * 1_000},
    ("System", "kill_storage"): {"keys": [b"k"] * 1_000},
    ("System", "kill_prefix"): {"prefix": b"p", "subkeys": 1_000},
    ("Sudo", "sudo"): {"call": TRANSFER},
    ("Sudo", "sudo_as"): {"who": ("Id", BOB), "call": TRANSFER},
    ("Sudo", "sudo_unchecked_weight"): {"call": TRANSFER, "weight": {"ref_time": 10**9, "proof_size": 0}},
}


def unit_configs() -> dict[str, object]:
    return {
        "System": SystemConfig(version=runtime_version_dict(), weights=UnitWeights()),
        "Timestamp": TimestampConfig(weights=UnitWeights()),
        "Balances": BalancesConfig(weights=UnitWeights()),
        "Sudo": SudoConfig(weights=UnitWeights()),
    }


def signed_xt(chain: MiniChain, call: Call, nonce: int = 0, uri: str = "//Alice") -> bytes:
    rt = chain.runtime
    pair = Keypair.create_from_uri(uri)
    extra = rt.extra_bytes(nonce=nonce)
    payload = rt.signing_payload(rt.call_codec.encode(call), extra, chain.genesis_hash, chain.genesis_hash)
    return rt.encode_signed(
        call, signer=pair.public_key, signature=("Sr25519", pair.sign(payload)), nonce=nonce
    )


def block_weight(chain: MiniChain) -> dict[str, dict[str, int]]:
    rt = chain.runtime
    rt.ext.overlay = StorageOverlay(chain.state())
    return cast("dict[str, dict[str, int]]", rt.system.block_weight.get())


def test_every_call_has_a_weight_that_fits_in_a_block() -> None:
    rt = DevRuntime()
    limit = rt.system_config.max_extrinsic
    for pallet in rt.pallets.values():
        for c in pallet.CALLS:
            static = c.static_weight(pallet)
            if static is None:
                args = LARGEST_ARGS.get((pallet.NAME, c.name))
                if args is None:
                    assert not isinstance(pallet, STANDARD), f"{pallet.NAME}.{c.name} needs LARGEST_ARGS"
                    continue  # another pallet's argument-dependent weight: its own tests size it
                weight = rt.call_info(Call(pallet=pallet.NAME, name=c.name, args=args)).weight
            else:
                weight = static
            assert 0 < weight.ref_time <= limit.ref_time, (pallet.NAME, c.name, weight)
            assert weight.proof_size <= limit.proof_size, (pallet.NAME, c.name, weight)


def test_length_dependent_weights_grow_with_their_lengths() -> None:
    rt = DevRuntime()
    grown = []
    for pallet in rt.pallets.values():
        for c in pallet.CALLS:
            w = c.weight
            if isinstance(w, FromWeightInfo) and w.lengths:
                weigh = getattr(pallet.weights, w.method)
                small, large = weigh(*[1] * len(w.lengths)), weigh(*[1_000] * len(w.lengths))
                assert large.ref_time > small.ref_time, (pallet.NAME, c.name)
                grown.append(f"{pallet.NAME}.{c.name}")
    assert {"System.remark", "System.set_storage", "System.kill_prefix"} <= set(grown)


def test_sudo_adds_its_own_weight_to_the_dispatched_call() -> None:
    rt = DevRuntime()
    inner = rt.call_info(TRANSFER).weight
    sudo = rt.call_info(Call(pallet="Sudo", name="sudo", args={"call": TRANSFER})).weight
    assert sudo == inner + rt.pallet(Sudo).config.weights.sudo()


def test_unit_weights_are_injected_through_the_config() -> None:
    rt = DevRuntime(configs=unit_configs())
    for pallet_class in STANDARD:
        pallet = rt.pallet(pallet_class)
        for c in pallet.CALLS:
            static = c.static_weight(pallet)
            assert static in (None, UNIT_WEIGHT), (pallet.NAME, c.name)
    assert (
        rt.call_info(Call(pallet="System", name="remark", args={"remark": bytes(100)})).weight == UNIT_WEIGHT
    )
    sudo = rt.call_info(Call(pallet="Sudo", name="sudo", args={"call": TRANSFER})).weight
    assert sudo == UNIT_WEIGHT + UNIT_WEIGHT  # its own unit plus the transfer's


def test_a_transfer_under_unit_weights_pays_only_one_weight_unit() -> None:
    chain = MiniChain(DevRuntime(configs=unit_configs()))
    rt = chain.runtime
    xt = signed_xt(chain, TRANSFER)
    block = chain.produce([xt])
    outcome = block.outcomes[-1]
    assert isinstance(outcome, ApplyOutcome) and outcome.ok
    base = rt.system_config.base_extrinsic_ref_time
    assert outcome.fee == base + len(xt) * 10**6 + UNIT_WEIGHT.ref_time
    assert outcome.weight == UNIT_WEIGHT.ref_time
    assert block_weight(chain)["normal"] == {"ref_time": base + 1, "proof_size": 0}


def test_a_weight_info_without_the_declared_method_fails_when_the_runtime_is_built() -> None:
    with pytest.raises(TypeError, match=r"Balances\.transfer_allow_death: weights is object"):
        DevRuntime(configs={"Balances": BalancesConfig(weights=cast("UnitWeights", object()))})
    with pytest.raises(ValueError, match=r"configs: found \['Nope'\]"):
        DevRuntime(configs={"Nope": None})
