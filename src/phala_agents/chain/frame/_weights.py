"""Weights, dispatch info, and ``WeightInfo``: where a call's declared weight comes from.

FRAME pallets write ``#[pallet::weight(T::WeightInfo::transfer_keep_alive())]`` and let the
runtime choose the implementation: benchmarked numbers (``SubstrateWeight<T>``) in a real runtime,
``()`` in mock runtimes. Here a pallet's Config holds ``weights`` (an object satisfying that
pallet's ``WeightInfo`` Protocol) and a call declares ``weight=weight_info("transfer_keep_alive")``;
tests inject ``UnitWeights()`` through the Config to make fees and block weight independent of
the benchmarked numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sized
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from phala_agents.chain.frame._pallet import Pallet
    from phala_agents.chain.frame._runtime import Call


@dataclass(frozen=True, slots=True)
class Weight:
    """``sp_weights::Weight``: picoseconds of execution and bytes of proof."""

    ref_time: int
    proof_size: int = 0

    def __add__(self, other: Weight) -> Weight:
        return Weight(self.ref_time + other.ref_time, self.proof_size + other.proof_size)

    def __sub__(self, other: Weight) -> Weight:
        """``saturating_sub`` per component (weights are never negative)."""
        return Weight(max(self.ref_time - other.ref_time, 0), max(self.proof_size - other.proof_size, 0))

    def min(self, other: Weight) -> Weight:
        """The smaller of each component (``Weight::min``)."""
        return Weight(min(self.ref_time, other.ref_time), min(self.proof_size, other.proof_size))

    def to_dict(self) -> dict[str, object]:
        return {"ref_time": self.ref_time, "proof_size": self.proof_size}


ZERO_WEIGHT = Weight(0, 0)


class DispatchClass(Enum):
    NORMAL = "Normal"
    OPERATIONAL = "Operational"
    MANDATORY = "Mandatory"


class Pays(Enum):
    YES = "Yes"
    NO = "No"


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchInfo:
    weight: Weight
    dispatch_class: DispatchClass = DispatchClass.NORMAL
    pays_fee: Pays = Pays.YES


@dataclass(frozen=True, slots=True, kw_only=True)
class PostInfo:
    """``PostDispatchInfo``: what a call may return to lower its weight or waive its fee."""

    actual_weight: Weight | None = None
    pays_fee: Pays = Pays.YES

    def actual_info(self, declared: DispatchInfo) -> DispatchInfo:
        """The dispatch info after the call: ``calc_actual_weight`` (never above the declared
        weight, so a call cannot charge more than the pool was told) and ``pays_fee`` (``No``
        if either side says so)."""
        weight = declared.weight if self.actual_weight is None else self.actual_weight.min(declared.weight)
        pays = Pays.NO if Pays.NO in (self.pays_fee, declared.pays_fee) else Pays.YES
        return DispatchInfo(weight=weight, dispatch_class=declared.dispatch_class, pays_fee=pays)


WeightFn = Callable[["Pallet", Mapping[str, object]], Weight]


def length_of(value: object) -> int:
    """A call argument as a ``WeightInfo`` length parameter: an integer as is, a sequence or byte
    string by its length."""
    if isinstance(value, int):
        return value
    if isinstance(value, Sized):
        return len(value)
    raise TypeError(f"weight length parameter: found {type(value).__name__}, wanted an int or a sized value")


@dataclass(frozen=True, slots=True)
class FromWeightInfo:
    """A call's weight read from its pallet's ``WeightInfo``:
    ``weights.<method>(*(length_of(args[n]) for n in lengths))``, plus the declared weight of the
    nested call ``args[inner_call]`` when set (``sudo``: ``call_weight + WeightInfo::sudo()``)."""

    method: str
    lengths: tuple[str, ...] = ()
    inner_call: str | None = None

    @property
    def is_static(self) -> bool:
        """Whether the weight is the same for any arguments (the runtime computes it once)."""
        return not self.lengths and self.inner_call is None

    def __call__(self, pallet: Pallet, args: Mapping[str, object]) -> Weight:
        weigh = cast("Callable[..., Weight]", getattr(pallet.weights, self.method))
        weight = weigh(*[length_of(args[name]) for name in self.lengths])
        if self.inner_call is not None:
            weight = weight + pallet.runtime.call_info(cast("Call", args[self.inner_call])).weight
        return weight


def weight_info(method: str, *lengths: str, inner_call: str | None = None) -> FromWeightInfo:
    """Declare a call's weight as its pallet's ``WeightInfo.<method>``, called with the named
    arguments as length parameters: ``weight_info("remark", "remark")`` is
    ``T::WeightInfo::remark(remark.len())``."""
    return FromWeightInfo(method, lengths, inner_call)


UNIT_WEIGHT = Weight(1, 0)


def _unit_weight(*lengths: int) -> Weight:
    del lengths
    return UNIT_WEIGHT


class UnitWeights:
    """A ``WeightInfo`` for every pallet whose every method is ``Weight(1, 0)`` (FRAME mocks use
    ``()``): inject it through a pallet's Config so tests do not depend on benchmarked numbers."""

    __slots__ = ()

    def __getattr__(self, method: str) -> Callable[..., Weight]:
        if method.startswith("_"):  # copy/pickle probe dunders; they must not look implemented
            raise AttributeError(method)
        return _unit_weight

    def __repr__(self) -> str:
        return "UnitWeights()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnitWeights)

    def __hash__(self) -> int:
        return hash(UnitWeights)


__all__ = [
    "UNIT_WEIGHT",
    "ZERO_WEIGHT",
    "DispatchClass",
    "DispatchInfo",
    "FromWeightInfo",
    "Pays",
    "PostInfo",
    "UnitWeights",
    "Weight",
    "WeightFn",
    "length_of",
    "weight_info",
]
