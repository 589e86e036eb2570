"""Pallet declarations: the ``Pallet`` base, ``@call``, events, errors, constants, origins.

A pallet is a class of declarations the runtime reads for metadata and dispatch
(frame-metadata ``PalletMetadata{name, storage, calls, event, constants, error, index}``). Its
index is the runtime's business (``construct_runtime!``), so the class carries only its name.
Events and errors are indexed in declaration order; call indices are explicit and never reused.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, TypeVar

from phala_agents.chain.frame._storage import StorageItem
from phala_agents.chain.frame._weights import (
    ZERO_WEIGHT,
    DispatchClass,
    FromWeightInfo,
    Pays,
    Weight,
    WeightFn,
)
from phala_agents.errors import BadOrigin, ModuleError
from phala_agents.scale import AnyCodec, Field
from phala_agents.scale import field as scale_field

if TYPE_CHECKING:
    from phala_agents.chain.frame._runtime import FrameRuntime


# --- origins ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Origin:
    """``RawOrigin``: ``Root``, ``Signed(who)`` or ``None``."""

    kind: Literal["Root", "Signed", "None"]
    who: bytes | None = None

    @classmethod
    def signed(cls, who: bytes) -> Origin:
        return cls("Signed", bytes(who))

    @classmethod
    def root(cls) -> Origin:
        return ROOT

    @classmethod
    def none(cls) -> Origin:
        return NONE


ROOT = Origin("Root")
NONE = Origin("None")


def ensure_signed(origin: Origin) -> bytes:
    if origin.kind != "Signed" or origin.who is None:
        raise BadOrigin(f"origin: found {origin.kind}, wanted Signed")
    return origin.who


def ensure_root(origin: Origin) -> None:
    if origin.kind != "Root":
        raise BadOrigin(f"origin: found {origin.kind}, wanted Root")


def ensure_none(origin: Origin) -> None:
    if origin.kind != "None":
        raise BadOrigin(f"origin: found {origin.kind}, wanted None")


# --- calls --------------------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDef:
    """One dispatchable: its index, argument codecs, weight and class."""

    name: str
    index: int
    args: tuple[Field, ...]
    weight: Weight | WeightFn
    dispatch_class: DispatchClass
    pays_fee: Pays
    docs: tuple[str, ...]
    attr: str

    def weight_of(self, pallet: Pallet, args: Mapping[str, object]) -> Weight:
        w = self.weight
        return w if isinstance(w, Weight) else w(pallet, args)

    def static_weight(self, pallet: Pallet) -> Weight | None:
        """The weight when it does not depend on the arguments, else None."""
        w = self.weight
        if isinstance(w, FromWeightInfo):
            return w(pallet, {}) if w.is_static else None
        return w if isinstance(w, Weight) else None


def call(
    *,
    index: int,
    weight: Weight | WeightFn,
    args: Sequence[Field] = (),
    dispatch_class: DispatchClass = DispatchClass.NORMAL,
    pays_fee: Pays = Pays.YES,
    name: str | None = None,
) -> Callable[[F], F]:
    """Mark a pallet method as the dispatchable ``index`` (``#[pallet::call_index]``).

    ``args`` are the SCALE fields in order (``field("dest", MultiAddress, "AccountIdLookupOf<T>")``);
    the method receives ``origin`` then the decoded values as keyword arguments. ``weight`` is a
    constant, ``weight_info("method", *length_args)`` (the pallet's ``WeightInfo``), or any
    ``(pallet, args) -> Weight``.
    """

    def wrap(fn: F) -> F:
        docs = tuple(line.strip() for line in (fn.__doc__ or "").strip().splitlines())
        fn._call_def = CallDef(  # type: ignore[attr-defined]
            name=name or fn.__name__,
            index=index,
            args=tuple(args),
            weight=weight,
            dispatch_class=dispatch_class,
            pays_fee=pays_fee,
            docs=docs,
            attr=fn.__name__,
        )
        return fn

    return wrap


# --- events, errors, constants ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDef:
    name: str
    fields: tuple[Field, ...]
    docs: tuple[str, ...]


def event(name: str, *fields: Field, docs: str = "") -> EventDef:
    return EventDef(name=name, fields=tuple(fields), docs=tuple(docs.split("\n")) if docs else ())


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorDef:
    name: str
    docs: tuple[str, ...]


def error(name: str, docs: str = "") -> ErrorDef:
    return ErrorDef(name=name, docs=tuple(docs.split("\n")) if docs else ())


@dataclass(frozen=True, slots=True, kw_only=True)
class ConstantDef:
    name: str
    codec: AnyCodec
    get: Callable[[object], object]
    docs: tuple[str, ...] = field(default_factory=tuple)


def constant(
    name: str, codec: AnyCodec, get: str | Callable[[object], object], docs: str = ""
) -> ConstantDef:
    """A ``#[pallet::constant]``: ``get`` reads the value from the pallet's config, either the
    name of a Config attribute (most constants are one field) or a function of the Config."""
    getter = operator.attrgetter(get) if isinstance(get, str) else get
    return ConstantDef(name=name, codec=codec, get=getter, docs=tuple(docs.split("\n")) if docs else ())


# --- the pallet base ----------------------------------------------------------------------------


class Pallet:
    """Base of all pallets. Subclass with ``class Balances(Pallet, name="Balances")``."""

    NAME: ClassVar[str]
    CRATE: ClassVar[str]  # the Rust crate name used in type paths ("pallet_balances")
    EVENTS: ClassVar[tuple[EventDef, ...]] = ()
    ERRORS: ClassVar[tuple[ErrorDef, ...]] = ()
    CONSTANTS: ClassVar[tuple[ConstantDef, ...]] = ()
    STORAGE: ClassVar[tuple[StorageItem[object], ...]] = ()
    CALLS: ClassVar[tuple[CallDef, ...]] = ()
    STORAGE_DOCS: ClassVar[str] = ""

    def __init_subclass__(cls, *, name: str, crate: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.NAME = name
        cls.CRATE = crate or "pallet_" + "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip(
            "_"
        )
        storage: list[StorageItem[object]] = []
        calls: dict[int, CallDef] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, StorageItem) and value not in storage:
                    storage.append(value)
                call_def = getattr(value, "_call_def", None)
                if isinstance(call_def, CallDef):
                    if call_def.index in calls and calls[call_def.index].name != call_def.name:
                        raise TypeError(f"{name}: call index {call_def.index} used twice")
                    calls[call_def.index] = call_def
        for item in storage:
            item.pallet_name = name
        names = [s.name for s in storage]
        if len(set(names)) != len(names):
            raise TypeError(f"{name}: duplicate storage name")
        cls.STORAGE = tuple(storage)
        cls.CALLS = tuple(sorted(calls.values(), key=lambda c: c.index))

    def __init__(self, runtime: FrameRuntime, index: int, config: object = None) -> None:
        self.runtime = runtime
        self.index = index
        self.config = config
        # The Config's WeightInfo, read by calls declared with ``weight=weight_info(...)``.
        self.weights: object = getattr(config, "weights", None)
        for item in self.STORAGE:
            setattr(self, item.attr, item.bind(runtime.ext, self.NAME))
        self._error_index = {e.name: i for i, e in enumerate(self.ERRORS)}

    # --- helpers for pallet code -------------------------------------------------------------------

    def error(self, name: str) -> ModuleError:
        """The ``ModuleError`` for this pallet's declared error ``name`` (raise it)."""
        idx = self._error_index[name]
        return ModuleError(self.NAME, self.index, name, idx, " ".join(self.ERRORS[idx].docs))

    def deposit_event(self, name: str, payload: Mapping[str, object] | object = None) -> None:
        """Emit this pallet's event ``name``; named fields take a dict."""
        self.runtime.deposit_event(self.index, name, payload)

    # --- hooks (override) ----------------------------------------------------------------------------

    def on_initialize(self, number: int) -> Weight:
        del number
        return ZERO_WEIGHT

    def on_finalize(self, number: int) -> None:
        del number

    def genesis(self, config: Mapping[str, object]) -> None:
        """Write this pallet's genesis state (``GenesisBuild``)."""
        del config


def arg(name: str, codec: AnyCodec, type_name: str | None = None) -> Field:
    """A call argument (an alias of ``phala_agents.scale.field``)."""
    return scale_field(name, codec, type_name)
