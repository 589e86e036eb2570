"""``FrameRuntime``: ``construct_runtime!`` in Python.

It binds pallets to their indices, builds the ``RuntimeCall``/``RuntimeEvent`` codecs, dispatches
calls inside a storage layer (a failing call leaves no write and no event behind, like
``#[transactional]`` since Substrate PR #11927), collects the block's events, and generates
metadata V14 from the declarations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

import structlog

from phala_agents.chain.frame._pallet import CallDef, Origin, Pallet
from phala_agents.chain.frame._storage import Ext, StorageDoubleMap, StorageMap
from phala_agents.chain.frame._types import DispatchErrorCodec, Phase
from phala_agents.chain.frame._weights import DispatchInfo, FromWeightInfo, PostInfo
from phala_agents.errors import BadOrigin, DispatchError, ModuleError
from phala_agents.scale import (
    H256,
    AnyCodec,
    Bytes,
    Codec,
    Enum,
    EnumValue,
    Field,
    Struct,
    Tuple,
    TypeRegistry,
    Vec,
    decode_error,
    field,
    variant,
)
from phala_agents.scale._metadata import (
    ConstantMeta,
    ExtrinsicMeta,
    MetadataV14,
    PalletMeta,
    SignedExtensionMeta,
    StorageEntryMeta,
)

if TYPE_CHECKING:
    from phala_agents.scale._registry import TypeSpec

P = TypeVar("P", bound=Pallet)
_TOPICS = Vec(H256)  # EventRecord.topics: Vec<T::Hash>
# sp-runtime decodes extrinsics with a depth limit (MAX_EXTRINSIC_DEPTH = 256) so nested calls
# (sudo(sudo(...))) cannot exhaust the stack; we count RuntimeCall nesting per thread.
MAX_CALL_DEPTH = 256
_DEPTH = threading.local()
_log = structlog.get_logger()


class DispatchPanic(DispatchError):
    """A call raised something other than ``DispatchError`` (a pallet bug); reported as
    ``DispatchError::Other``."""

    dispatch_error = ("Other", None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """A decoded ``RuntimeCall``: pallet, call name and argument values."""

    pallet: str
    name: str
    args: Mapping[str, object]
    pallet_index: int = -1
    call_index: int = -1


class _OuterCall(Codec[Call]):
    """Placeholder for ``<T as Config>::RuntimeCall`` in a pallet's call arguments."""

    def __init__(self) -> None:
        self.type_name = "RuntimeCall"


RUNTIME_CALL: Codec[Call] = _OuterCall()


class RuntimeCallCodec(Codec[Call]):
    """``RuntimeCall``: pallet index byte, call index byte, then the arguments."""

    def __init__(self, path: tuple[str, ...]) -> None:
        self.type_name = "RuntimeCall"
        self.path = path
        # pallet index -> (pallet name, call index -> (CallDef, ((arg name, codec), ...)))
        self.table: dict[int, tuple[str, dict[int, tuple[CallDef, tuple[tuple[str, AnyCodec], ...]]]]] = {}
        self.by_name: dict[tuple[str, str], tuple[int, CallDef, tuple[tuple[str, AnyCodec], ...]]] = {}
        self.pallet_enums: list[tuple[str, int, Enum]] = []

    def add_pallet(self, name: str, index: int, enum: Enum, calls: Sequence[CallDef]) -> None:
        entries = {}
        for c, v in zip(calls, enum.variants, strict=True):
            pairs = tuple((f.name or "", f.codec) for f in v.fields)
            entries[c.index] = (c, pairs)
            self.by_name[(name, c.name)] = (index, c, pairs)
        self.table[index] = (name, entries)
        self.pallet_enums.append((name, index, enum))

    def encode(self, value: Call) -> bytes:
        try:
            pidx, cdef, pairs = self.by_name[(value.pallet, value.name)]
        except KeyError:
            raise ValueError(
                f"RuntimeCall: found {value.pallet}.{value.name}, wanted a call the runtime declares"
            ) from None
        try:
            body = b"".join(c.encode(value.args[n]) for n, c in pairs)
        except KeyError as exc:
            raise ValueError(
                f"{value.pallet}.{value.name}: found no argument {exc.args[0]!r}, "
                f"wanted arguments {[n for n, _ in pairs]}"
            ) from None
        return bytes((pidx, cdef.index)) + body

    def decode(self, data: bytes, offset: int = 0) -> tuple[Call, int]:
        if offset + 2 > len(data):
            raise decode_error(
                offset, "RuntimeCall", f"{max(len(data) - offset, 0)} byte(s)", "2 index bytes"
            )
        pidx = data[offset]
        entry = self.table.get(pidx)
        if entry is None:
            raise decode_error(offset, "RuntimeCall", f"pallet index {pidx}", f"one of {sorted(self.table)}")
        pallet, calls = entry
        cidx = data[offset + 1]
        found = calls.get(cidx)
        if found is None:
            raise decode_error(offset + 1, f"{pallet}::Call", f"call index {cidx}", f"one of {sorted(calls)}")
        cdef, pairs = found
        pos = offset + 2
        args: dict[str, object] = {}
        depth = _DEPTH.__dict__.get("n", 0)
        if depth >= MAX_CALL_DEPTH:
            raise decode_error(
                offset, "RuntimeCall", f"nesting deeper than {MAX_CALL_DEPTH}", "a shallower call"
            )
        _DEPTH.n = depth + 1
        try:
            for n, c in pairs:
                args[n], pos = c.decode(data, pos)
        finally:
            _DEPTH.n = depth
        return Call(pallet=pallet, name=cdef.name, args=args, pallet_index=pidx, call_index=cidx), pos

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        variants = [
            variant(
                name,
                index,
                [
                    field(
                        None,
                        enum,
                        f"self::sp_api_hidden_includes_construct_runtime::"
                        f"hidden_include::dispatch::CallableCallFor<{name}, Runtime>",
                    )
                ],
            )
            for name, index, enum in sorted(self.pallet_enums, key=lambda t: t[1])
        ]
        return reg.variant(self.path, variants, (), ())


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedExtensionDecl:
    """A signed extension as metadata lists it: its extra (in the extrinsic) and additional
    (signed, not sent) types."""

    identifier: str
    extra: AnyCodec
    additional: AnyCodec


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchOutcome:
    ok: bool
    error: DispatchError | None = None
    post: PostInfo | None = None


class FrameRuntime:
    """Pallets bound to indices, the outer call/event types, dispatch and metadata."""

    CRATE = "phala_agents_runtime"

    def __init__(self, pallets: Sequence[tuple[int, type[Pallet], object]]) -> None:
        self.ext = Ext()
        self.pallets: dict[int, Pallet] = {}
        self._by_class: dict[type[Pallet], Pallet] = {}
        self._by_name: dict[str, Pallet] = {}
        for index, cls, config in sorted(pallets, key=lambda t: t[0]):
            if index in self.pallets:
                raise ValueError(f"pallet index {index} used twice")
            pallet = cls(self, index, config)
            self.pallets[index] = pallet
            self._by_class[cls] = pallet
            self._by_name[cls.NAME] = pallet
        self.call_codec = RuntimeCallCodec((self.CRATE, "RuntimeCall"))
        self._handlers: dict[tuple[int, int], Callable[..., object]] = {}
        # DispatchInfo of the calls whose weight does not depend on their arguments, computed once:
        # a pallet's WeightInfo is fixed when the runtime is built (it lives in the Config).
        self._static_infos: dict[tuple[int, int], DispatchInfo] = {}
        self.event_enums: dict[int, Enum] = {}
        self.error_enums: dict[int, Enum] = {}
        for index, pallet in self.pallets.items():
            crate = pallet.CRATE
            if pallet.CALLS:
                enum = Enum(
                    f"{crate}::pallet::Call",
                    [
                        variant(c.name, c.index, [self._outer(f) for f in c.args], c.docs)
                        for c in pallet.CALLS
                    ],
                    params=(("T", None),),
                    docs=("Contains a variant per dispatchable extrinsic that this pallet has.",),
                )
                self.call_codec.add_pallet(pallet.NAME, index, enum, pallet.CALLS)
                for c in pallet.CALLS:
                    self._handlers[(index, c.index)] = getattr(pallet, c.attr)
                    static = self._static_info(pallet, c)
                    if static is not None:
                        self._static_infos[(index, c.index)] = static
            if pallet.EVENTS:
                self.event_enums[index] = Enum(
                    f"{crate}::pallet::Event",
                    [variant(e.name, i, e.fields, e.docs) for i, e in enumerate(pallet.EVENTS)],
                    params=(("T", None),),
                    docs=("The `Event` enum of this pallet",),
                )
            if pallet.ERRORS:
                self.error_enums[index] = Enum(
                    f"{crate}::pallet::Error",
                    [variant(e.name, i, (), e.docs) for i, e in enumerate(pallet.ERRORS)],
                    params=(("T", None),),
                    docs=("The `Error` enum of this pallet.",),
                )
        self.event_codec = Enum(
            f"{self.CRATE}::RuntimeEvent",
            [
                variant(self.pallets[i].NAME, i, [field(None, e, f"{self.pallets[i].CRATE}::Event<Runtime>")])
                for i, e in sorted(self.event_enums.items())
            ],
        )
        self.event_record_codec = Struct(
            "frame_system::EventRecord",
            [
                field("phase", Phase, "Phase"),
                field("event", self.event_codec, "E"),
                field("topics", _TOPICS, "Vec<T>"),
            ],
            params=(("E", self.event_codec), ("T", H256)),
        )
        self._event_encoders = {i: e.encode for i, e in self.event_enums.items()}

    @staticmethod
    def _static_info(pallet: Pallet, c: CallDef) -> DispatchInfo | None:
        declared = c.weight
        # A missing WeightInfo method is a wiring bug: fail when the runtime is built, not when
        # the first such extrinsic arrives.
        if isinstance(declared, FromWeightInfo) and not callable(
            getattr(pallet.weights, declared.method, None)
        ):
            raise TypeError(
                f"{pallet.NAME}.{c.name}: weights is {type(pallet.weights).__name__}, "
                f"wanted a WeightInfo with {declared.method}() (the pallet Config's `weights`)"
            )
        weight = c.static_weight(pallet)
        if weight is None:
            return None
        return DispatchInfo(weight=weight, dispatch_class=c.dispatch_class, pays_fee=c.pays_fee)

    def _outer(self, f: Field) -> Field:
        if f.codec is RUNTIME_CALL:
            return field(f.name, self.call_codec, f.type_name, f.docs)
        return f

    # --- pallets --------------------------------------------------------------------------------------

    def pallet(self, cls: type[P]) -> P:
        return cast("P", self._by_class[cls])

    def pallet_named(self, name: str) -> Pallet:
        return self._by_name[name]

    # --- events ---------------------------------------------------------------------------------------

    def deposit_event(self, pallet_index: int, name: str, payload: object) -> None:
        """Record the event ``name`` of the pallet at ``pallet_index`` in the current phase."""
        body = self._event_encoders[pallet_index]((name, payload))
        ext = self.ext
        ext.events.append(ext.phase + bytes((pallet_index,)) + body + b"\x00")

    def decoded_events(self) -> list[dict[str, object]]:
        """The events of the current block as ``{"phase", "pallet", "event", "attributes"}``."""
        out = []
        for raw in self.ext.events:
            record = self.event_record_codec.decode_all(raw)
            pallet, inner = cast("EnumValue", record["event"])
            name, attrs = cast("EnumValue", inner)
            out.append({"phase": record["phase"], "pallet": pallet, "event": name, "attributes": attrs})
        return out

    # --- dispatch -------------------------------------------------------------------------------------

    def call_info(self, call: Call) -> DispatchInfo:
        """The declared (pre-dispatch) weight, class and fee flag of ``call``."""
        static = self._static_infos.get((call.pallet_index, call.call_index))
        if static is not None:
            return static
        pallet = self._by_name[call.pallet]
        _, cdef, _ = self.call_codec.by_name[(call.pallet, call.name)]
        static = self._static_infos.get((pallet.index, cdef.index))
        if static is not None:  # a Call built by name, without its indices
            return static
        return DispatchInfo(
            weight=cdef.weight_of(pallet, call.args),
            dispatch_class=cdef.dispatch_class,
            pays_fee=cdef.pays_fee,
        )

    def dispatch(self, call: Call, origin: Origin) -> DispatchOutcome:
        """Run ``call`` in its own storage layer; a ``DispatchError`` rolls back its writes and
        events and is returned, any other exception rolls back and propagates."""
        overlay = self.ext.current()
        events = self.ext.events
        mark = len(events)
        handler = self._handlers.get((call.pallet_index, call.call_index))
        if handler is None:
            pidx, cdef, _ = self.call_codec.by_name[(call.pallet, call.name)]
            handler = self._handlers[(pidx, cdef.index)]
        overlay.start_transaction()
        try:
            result = handler(origin, **call.args)
        except DispatchError as exc:
            overlay.rollback_transaction()
            del events[mark:]
            return DispatchOutcome(ok=False, error=exc)
        except Exception as exc:  # a pallet bug must not wedge the block
            # A wasm runtime would trap; here the call fails like DispatchError::Other so the chain
            # keeps going, and the bug is logged loudly (type only: arguments may be private).
            overlay.rollback_transaction()
            del events[mark:]
            _log.error("dispatch_panicked", pallet=call.pallet, call=call.name, error_type=type(exc).__name__)
            return DispatchOutcome(
                ok=False, error=DispatchPanic(f"{call.pallet}.{call.name} raised {type(exc).__name__}")
            )
        overlay.commit_transaction()
        return DispatchOutcome(ok=True, post=result if isinstance(result, PostInfo) else None)

    @staticmethod
    def dispatch_error_value(exc: DispatchError) -> EnumValue:
        """The ``sp_runtime::DispatchError`` value of an exception."""
        if isinstance(exc, ModuleError):
            return ("Module", {"index": exc.pallet_index, "error": bytes((exc.error_index, 0, 0, 0))})
        if isinstance(exc, BadOrigin):
            return ("BadOrigin", None)
        kind = getattr(exc, "dispatch_error", None)
        if isinstance(kind, tuple):
            return cast("EnumValue", kind)
        return ("Other", None)

    @classmethod
    def dispatch_error_text(cls, exc: DispatchError) -> str:
        """``"Pallet::Error"`` for a module error, else the ``DispatchError`` variant with its
        inner variant if any (``"BadOrigin"``, ``"Token::FundsUnavailable"``)."""
        if isinstance(exc, ModuleError):
            return f"{exc.pallet}::{exc.name}"
        kind, inner = cls.dispatch_error_value(exc)
        if isinstance(inner, tuple) and inner:
            return f"{kind}::{inner[0]}"
        return kind

    # --- metadata -------------------------------------------------------------------------------------

    def build_metadata(
        self,
        *,
        extrinsic_address: AnyCodec,
        extrinsic_signature: AnyCodec,
        signed_extensions: Sequence[SignedExtensionDecl],
    ) -> MetadataV14:
        reg = TypeRegistry()
        # Register the outer types first so their ids are small and stable.
        reg.register(self.call_codec)
        reg.register(self.event_record_codec)
        extra = Tuple(*[s.extra for s in signed_extensions])
        # scale-info describes the extrinsic as an opaque Vec<u8> composite whose parameters
        # name the address, call, signature and extra types (what clients read).
        unchecked = Struct(
            "sp_runtime::generic::unchecked_extrinsic::UncheckedExtrinsic",
            [field(None, Bytes)],
            params=(
                ("Address", extrinsic_address),
                ("Call", self.call_codec),
                ("Signature", extrinsic_signature),
                ("Extra", extra),
            ),
            docs=("UncheckedExtrinsic raw bytes, requires custom decoding routine",),
        )
        extrinsic_id = reg.register(unchecked)
        pallets = []
        for index, pallet in self.pallets.items():
            storage: list[StorageEntryMeta] = []
            for item in pallet.STORAGE:
                value_codec = item.value_codec
                if getattr(value_codec, "type_name", "") == "Vec<EventRecord>":
                    value_codec = Vec(self.event_record_codec)
                value_id = reg.register(value_codec)
                if isinstance(item, StorageDoubleMap):
                    hashers: tuple[str, ...] = (item.hasher1.name, item.hasher2.name)
                    key_id: int | None = reg.register(item.key_codec)
                elif isinstance(item, StorageMap):
                    hashers = (item.hasher.name,)
                    key_id = reg.register(item.key_codec)
                else:
                    hashers, key_id = (), None
                storage.append(
                    StorageEntryMeta(
                        name=item.name,
                        modifier=item.query.modifier,
                        hashers=hashers,
                        key=key_id,
                        value=value_id,
                        default=item.default_bytes(),
                        docs=item.docs,
                    )
                )
            calls_id = None
            for _, idx, enum in self.call_codec.pallet_enums:
                if idx == index:
                    calls_id = reg.register(enum)
            constants = tuple(
                ConstantMeta(
                    name=c.name,
                    type=reg.register(c.codec),
                    value=c.codec.encode(c.get(pallet.config)),
                    docs=c.docs,
                )
                for c in pallet.CONSTANTS
            )
            event = self.event_enums.get(index)
            err = self.error_enums.get(index)
            pallets.append(
                PalletMeta(
                    name=pallet.NAME,
                    index=index,
                    storage_prefix=pallet.NAME if storage else None,
                    storage=tuple(storage) if storage else None,
                    calls=calls_id,
                    event=None if event is None else reg.register(event),
                    constants=constants,
                    error=None if err is None else reg.register(err),
                )
            )
        exts = tuple(
            SignedExtensionMeta(
                identifier=s.identifier,
                type=reg.register(s.extra),
                additional_signed=reg.register(s.additional),
            )
            for s in signed_extensions
        )
        runtime_id = reg.register(Struct(f"{self.CRATE}::Runtime", []))
        reg.register(DispatchErrorCodec)
        return MetadataV14(
            types=reg.types(),
            pallets=tuple(pallets),
            extrinsic=ExtrinsicMeta(type=extrinsic_id, version=4, signed_extensions=exts),
            runtime_type=runtime_id,
        )
