"""``pallet_timestamp`` (index 1): the block time, set by an inherent in every block."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from phala_agents.chain.frame import (
    DispatchClass,
    Origin,
    Pallet,
    StorageValue,
    ValueQuery,
    Weight,
    arg,
    call,
    constant,
    ensure_none,
    weight_info,
)
from phala_agents.errors import DispatchError
from phala_agents.scale import U64, Bool, Compact


class TimestampWeightInfo(Protocol):
    """``pallet_timestamp::WeightInfo``: the declared weight of ``set``."""

    def set(self) -> Weight: ...


@dataclass(frozen=True, slots=True)  # value equality, so equal Configs compare equal
class TimestampWeights:
    """The default ``TimestampWeightInfo``: one read and write of ``Now`` (proof 1_493 bytes)."""

    def set(self) -> Weight:
        return Weight(9_000_000, 1_493)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimestampConfig:
    minimum_period: int = 1  # ms; instant seal makes blocks as fast as they come
    weights: TimestampWeightInfo = field(default_factory=TimestampWeights)


class Timestamp(Pallet, name="Timestamp"):
    """The current time (milliseconds since the Unix epoch) of the block being built."""

    now = StorageValue("Now", U64, query=ValueQuery, docs=" The current time for the current block.")
    did_update = StorageValue(
        "DidUpdate", Bool, query=ValueQuery, docs=" Whether the timestamp has been updated in this block."
    )

    CONSTANTS = (
        constant(
            "MinimumPeriod",
            U64,
            "minimum_period",
            " The minimum period between blocks.",
        ),
    )

    config: TimestampConfig

    @call(
        index=0,
        weight=weight_info("set"),
        args=[arg("now", Compact(U64), "T::Moment")],
        dispatch_class=DispatchClass.MANDATORY,
    )
    def set(self, origin: Origin, now: int) -> None:
        """Set the current time.

        This call should be invoked exactly once per block. It will panic at the finalization
        phase, if this call hasn't been invoked by that time."""
        ensure_none(origin)
        if self.did_update.get():
            raise DispatchError("Timestamp must be updated only once in the block")
        prev = self.now.get()
        if prev and now < prev + self.config.minimum_period:
            raise DispatchError(
                "Timestamp must increment by at least <MinimumPeriod> between sequential blocks"
            )
        self.now.put(now)
        self.did_update.put(True)

    def next_timestamp(self, wanted_ms: int) -> int:
        """The inherent's value: the host's clock, but never less than ``Now + MinimumPeriod``."""
        prev = self.now.get()
        return max(wanted_ms, prev + self.config.minimum_period) if prev else wanted_ms

    def on_finalize(self, number: int) -> None:
        del number
        if not self.did_update.get():
            raise RuntimeError("Timestamp must be updated once in the block")
        self.did_update.kill()


__all__ = ["Timestamp", "TimestampConfig", "TimestampWeightInfo", "TimestampWeights"]
