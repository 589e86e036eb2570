"""``pallet_sudo`` (index 4): one key may dispatch any call as Root (dev chain governance)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, cast

from phala_agents.chain.frame import (
    RUNTIME_CALL,
    Call,
    OptionQuery,
    Origin,
    Pallet,
    Pays,
    PostInfo,
    StorageValue,
    Weight,
    arg,
    call,
    ensure_signed,
    error,
    event,
    weight_info,
)
from phala_agents.chain.frame._lookup import lookup
from phala_agents.chain.frame._types import DispatchResult, MultiAddress, WeightCodec
from phala_agents.scale import AccountId, Option
from phala_agents.scale import field as scale_field


class SudoWeightInfo(Protocol):
    """``pallet_sudo::WeightInfo``: the sudo pallet's own part of each call's weight
    (``sudo``/``sudo_as`` add the declared weight of the call they dispatch)."""

    def set_key(self) -> Weight: ...
    def sudo(self) -> Weight: ...
    def sudo_as(self) -> Weight: ...
    def remove_key(self) -> Weight: ...


@dataclass(frozen=True, slots=True)  # value equality, so equal Configs compare equal
class SudoWeights:
    """The default ``SudoWeightInfo``: one read of ``Key`` (proof 1_517 bytes), plus a write for
    ``set_key``/``remove_key``."""

    def set_key(self) -> Weight:
        return Weight(12_000_000, 1_517)

    def sudo(self) -> Weight:
        return Weight(10_000_000, 1_517)

    def sudo_as(self) -> Weight:
        return Weight(10_000_000, 1_517)

    def remove_key(self) -> Weight:
        return Weight(12_000_000, 1_517)


@dataclass(frozen=True, slots=True, kw_only=True)
class SudoConfig:
    weights: SudoWeightInfo = field(default_factory=SudoWeights)


_CALL = arg("call", RUNTIME_CALL, "Box<<T as Config>::RuntimeCall>")


def _caller_given_weight(pallet: Pallet, args: Mapping[str, object]) -> Weight:
    """``sudo_unchecked_weight``: the weight argument itself."""
    del pallet
    given = cast("Mapping[str, int]", args["weight"])  # decoded by WeightCodec
    return Weight(given["ref_time"], given["proof_size"])


class Sudo(Pallet, name="Sudo"):
    """A single sudo key that can dispatch Root calls."""

    key = StorageValue("Key", AccountId, query=OptionQuery, docs=" The `AccountId` of the sudo key.")

    EVENTS = (
        event(
            "Sudid",
            scale_field("sudo_result", DispatchResult, "DispatchResult"),
            docs="A sudo call just took place.",
        ),
        event(
            "KeyChanged",
            scale_field("old", Option(AccountId), "Option<T::AccountId>"),
            scale_field("new", AccountId, "T::AccountId"),
            docs="The sudo key has been updated.",
        ),
        event("KeyRemoved", docs="The key was permanently removed."),
        event(
            "SudoAsDone",
            scale_field("sudo_result", DispatchResult, "DispatchResult"),
            docs="A [sudo_as](Pallet::sudo_as) call just took place.",
        ),
    )
    ERRORS = (error("RequireSudo", "Sender must be the Sudo account."),)

    config: SudoConfig

    def _ensure_sudo(self, origin: Origin) -> bytes:
        who = ensure_signed(origin)
        if self.key.get() != who:
            raise self.error("RequireSudo")
        return who

    def _run(self, inner: Call, origin: Origin, event_name: str) -> None:
        outcome = self.runtime.dispatch(inner, origin)
        if outcome.ok:
            result: tuple[str, object] = ("Ok", ())
        else:
            assert outcome.error is not None
            result = ("Err", self.runtime.dispatch_error_value(outcome.error))
        self.deposit_event(event_name, {"sudo_result": result})

    @call(index=0, weight=weight_info("sudo", inner_call="call"), args=[_CALL])
    def sudo(self, origin: Origin, call: Call) -> PostInfo:
        """Authenticates the sudo key and dispatches a function call with `Root` origin."""
        self._ensure_sudo(origin)
        self._run(call, Origin.root(), "Sudid")
        return PostInfo(pays_fee=Pays.NO)

    @call(index=1, weight=_caller_given_weight, args=[_CALL, arg("weight", WeightCodec, "Weight")])
    def sudo_unchecked_weight(self, origin: Origin, call: Call, weight: object) -> PostInfo:
        """Authenticates the sudo key and dispatches a function call with `Root` origin,
        with a caller-given weight."""
        del weight
        self._ensure_sudo(origin)
        self._run(call, Origin.root(), "Sudid")
        return PostInfo(pays_fee=Pays.NO)

    @call(index=2, weight=weight_info("set_key"), args=[arg("new", MultiAddress, "AccountIdLookupOf<T>")])
    def set_key(self, origin: Origin, new: object) -> PostInfo:
        """Authenticates the current sudo key and sets the given AccountId (`new`) as the new sudo key."""
        self._ensure_sudo(origin)
        new_key = lookup(new)
        old = self.key.get()
        self.key.put(new_key)
        self.deposit_event("KeyChanged", {"old": old, "new": new_key})
        return PostInfo(pays_fee=Pays.NO)

    @call(
        index=3,
        weight=weight_info("sudo_as", inner_call="call"),
        args=[arg("who", MultiAddress, "AccountIdLookupOf<T>"), _CALL],
    )
    def sudo_as(self, origin: Origin, who: object, call: Call) -> PostInfo:
        """Authenticates the sudo key and dispatches a function call with `Signed` origin from
        a given account."""
        self._ensure_sudo(origin)
        self._run(call, Origin.signed(lookup(who)), "SudoAsDone")
        return PostInfo(pays_fee=Pays.NO)

    @call(index=4, weight=weight_info("remove_key"))
    def remove_key(self, origin: Origin) -> PostInfo:
        """Permanently removes the sudo key."""
        self._ensure_sudo(origin)
        self.key.kill()
        self.deposit_event("KeyRemoved")
        return PostInfo(pays_fee=Pays.NO)

    def genesis(self, config: Mapping[str, object]) -> None:
        key = config.get("key")
        if isinstance(key, bytes):
            self.key.put(key)


__all__ = ["Sudo", "SudoConfig", "SudoWeightInfo", "SudoWeights"]
