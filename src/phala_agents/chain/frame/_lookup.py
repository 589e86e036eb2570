"""``StaticLookup`` for ``MultiAddress``: only ``Id`` resolves (no indices pallet)."""

from __future__ import annotations

from phala_agents.errors import DispatchError


class CannotLookup(DispatchError):
    """``DispatchError::CannotLookup``: an address that does not resolve to an account."""

    dispatch_error = ("CannotLookup", None)


def lookup(address: object) -> bytes:
    """The account id of a decoded ``MultiAddress`` value."""
    if (
        isinstance(address, tuple)
        and len(address) == 2
        and address[0] == "Id"
        and isinstance(address[1], bytes)
    ):
        return address[1]
    if isinstance(address, bytes) and len(address) == 32:
        return address
    kind = address[0] if isinstance(address, tuple) and address else type(address).__name__
    raise CannotLookup(f"MultiAddress: found {kind}, wanted Id")
