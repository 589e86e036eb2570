"""SCALE type objects: each encodes, decodes and describes itself for a V14 type registry.

A codec is an object, not a class per type, so declarations read like Rust types
(``Vec(U8)``, ``Struct(path=..., fields=...)``) and the registry builder can walk them. Values
are plain Python: ints, bools, str, bytes (``Vec<u8>`` and ``[u8; N]``), lists, tuples, dicts
(named fields), ``None`` (Option), and ``(variant_name, payload)`` pairs for enums.

``decode(data, offset)`` returns ``(value, next_offset)`` and raises ``DecodeError`` (offset,
type, found, wanted) on malformed input, never anything else: every reader checks its bounds
before slicing. Hot paths (integers, compact, fixed bytes) avoid helper calls on purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeAlias, TypeVar, cast

from phala_agents.errors import DecodeError

if TYPE_CHECKING:
    from phala_agents.scale._registry import TypeRegistry, TypeSpec

T = TypeVar("T")
V_co = TypeVar("V_co", covariant=True)
EnumValue: TypeAlias = tuple[str, object]

_COMPACT_MAX = 2**536 - 1


def decode_error(offset: int, type_name: str, found: str, wanted: str) -> DecodeError:
    """A ``DecodeError`` that names where, what type, what was found and what was wanted."""
    return DecodeError(
        f"{type_name} at offset {offset}: found {found}, wanted {wanted}",
        offset=offset,
        type_name=type_name,
        found=found,
        wanted=wanted,
    )


def _eof(offset: int, type_name: str, need: int, have: int) -> DecodeError:
    return decode_error(offset, type_name, f"{max(have, 0)} byte(s) left", f"{need} byte(s)")


class Codec(Generic[V_co]):
    """Base of all SCALE type objects; ``V_co`` is the Python type of the values.

    Covariant, so that ``Codec[int]`` is a ``Codec[object]`` and heterogeneous declarations
    (struct fields, call arguments, storage values) need no ``Any``. ``encode`` takes the value
    type as a parameter, which covariance formally forbids: through a ``Codec[object]`` a wrong
    value type is caught at run time (``ValueError``/``TypeError`` from the codec), as it was
    with ``Codec[Any]``."""

    __slots__ = ("type_name",)

    type_name: str

    def encode(self, value: V_co) -> bytes:  # type: ignore[misc]  # see the class docstring
        raise NotImplementedError

    def decode(self, data: bytes, offset: int = 0) -> tuple[V_co, int]:
        raise NotImplementedError

    def decode_all(self, data: bytes) -> V_co:
        """Decode ``data`` as exactly one value; trailing bytes are an error."""
        value, end = self.decode(data, 0)
        if end != len(data):
            raise decode_error(end, self.type_name, f"{len(data) - end} trailing byte(s)", "end of input")
        return value

    def default(self) -> V_co:
        """The value Rust's ``Default`` gives (used by ``ValueQuery`` storage)."""
        raise NotImplementedError(f"{self.type_name} has no default")

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        """How this type looks in a scale-info ``PortableRegistry``."""
        raise NotImplementedError

    def registry_key(self, reg: TypeRegistry) -> object:
        """Identity used to de-duplicate registry entries (named types: the object itself)."""
        return ("obj", id(self))

    def __repr__(self) -> str:
        return self.type_name


# A codec of any value type; used where declarations mix types (struct fields, call arguments).
AnyCodec: TypeAlias = Codec[object]


# --- primitives ---------------------------------------------------------------------------------


class _FixedInt(Codec[int]):
    """A fixed-width little-endian integer (``u8``..``u256``, ``i8``..``i128``)."""

    __slots__ = ("bits", "max", "min", "signed", "size")

    def __init__(self, bits: int, *, signed: bool) -> None:
        self.bits = bits
        self.size = bits // 8
        self.signed = signed
        self.min = -(1 << (bits - 1)) if signed else 0
        self.max = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        self.type_name = f"{'i' if signed else 'u'}{bits}"

    def encode(self, value: int) -> bytes:
        if not self.min <= value <= self.max:
            raise ValueError(f"{self.type_name}: found {value}, wanted {self.min}..={self.max}")
        return value.to_bytes(self.size, "little", signed=self.signed)

    def decode(self, data: bytes, offset: int = 0) -> tuple[int, int]:
        end = offset + self.size
        if end > len(data) or offset < 0:
            raise _eof(offset, self.type_name, self.size, len(data) - offset)
        return int.from_bytes(data[offset:end], "little", signed=self.signed), end

    def default(self) -> int:
        return 0

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.primitive(self.type_name)

    def registry_key(self, reg: TypeRegistry) -> object:
        return ("prim", self.type_name)


class UInt(_FixedInt):
    """An unsigned integer (``u8``..``u256``); the inner type of ``Compact``."""

    __slots__ = ()

    def __init__(self, bits: int) -> None:
        super().__init__(bits, signed=False)


class SInt(_FixedInt):
    """A two's-complement signed integer (``i8``..``i128``)."""

    __slots__ = ()

    def __init__(self, bits: int) -> None:
        super().__init__(bits, signed=True)


class BoolCodec(Codec[bool]):
    __slots__ = ()

    def __init__(self) -> None:
        self.type_name = "bool"

    def encode(self, value: bool) -> bytes:
        return b"\x01" if value else b"\x00"

    def decode(self, data: bytes, offset: int = 0) -> tuple[bool, int]:
        if offset >= len(data):
            raise _eof(offset, "bool", 1, 0)
        b = data[offset]
        if b > 1:
            raise decode_error(offset, "bool", f"byte {b:#04x}", "0x00 or 0x01")
        return b == 1, offset + 1

    def default(self) -> bool:
        return False

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.primitive("bool")

    def registry_key(self, reg: TypeRegistry) -> object:
        return ("prim", "bool")


def _read_len(data: bytes | memoryview, offset: int, type_name: str) -> tuple[int, int]:
    """A compact integer (most often a length prefix), bounded by the bytes that remain."""
    n = len(data)
    if offset >= n:
        raise _eof(offset, type_name, 1, 0)
    first = data[offset]
    mode = first & 3
    if mode == 0:
        return first >> 2, offset + 1
    if mode == 1:
        if offset + 2 > n:
            raise _eof(offset, type_name, 2, n - offset)
        return int.from_bytes(data[offset : offset + 2], "little") >> 2, offset + 2
    if mode == 2:
        if offset + 4 > n:
            raise _eof(offset, type_name, 4, n - offset)
        return int.from_bytes(data[offset : offset + 4], "little") >> 2, offset + 4
    size = (first >> 2) + 4
    end = offset + 1 + size
    if end > n:
        raise _eof(offset, type_name, 1 + size, n - offset)
    return int.from_bytes(data[offset + 1 : end], "little"), end


def decode_compact(data: bytes | memoryview, offset: int = 0) -> tuple[int, int]:
    """A compact integer at ``offset``: ``(value, next_offset)``."""
    return _read_len(data, offset, "Compact")


def encode_compact(value: int) -> bytes:
    """Compact encoding of a non-negative integer (lengths, compact fields)."""
    if value < 64:
        if value < 0:
            raise ValueError(f"compact integer: found {value}, wanted 0..=2**536-1")
        return bytes((value << 2,))
    if value < 1 << 14:
        return ((value << 2) | 1).to_bytes(2, "little")
    if value < 1 << 30:
        return ((value << 2) | 2).to_bytes(4, "little")
    if value > _COMPACT_MAX:
        raise ValueError(f"compact integer: found {value}, wanted 0..=2**536-1")
    size = (value.bit_length() + 7) // 8
    return bytes((((size - 4) << 2) | 3,)) + value.to_bytes(size, "little")


class StrCodec(Codec[str]):
    __slots__ = ()

    def __init__(self) -> None:
        self.type_name = "str"

    def encode(self, value: str) -> bytes:
        raw = value.encode()
        return encode_compact(len(raw)) + raw

    def decode(self, data: bytes, offset: int = 0) -> tuple[str, int]:
        length, start = _read_len(data, offset, "str")
        end = start + length
        if end > len(data):
            raise _eof(start, "str", length, len(data) - start)
        try:
            return bytes(data[start:end]).decode(), end
        except UnicodeDecodeError:
            raise decode_error(start, "str", "invalid UTF-8", "UTF-8 text") from None

    def default(self) -> str:
        return ""

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.primitive("str")

    def registry_key(self, reg: TypeRegistry) -> object:
        return ("prim", "str")


class BytesCodec(Codec[bytes]):
    """``Vec<u8>`` as Python ``bytes``."""

    __slots__ = ()

    def __init__(self) -> None:
        self.type_name = "Vec<u8>"

    def encode(self, value: bytes) -> bytes:
        return encode_compact(len(value)) + bytes(value)

    def decode(self, data: bytes, offset: int = 0) -> tuple[bytes, int]:
        length, start = _read_len(data, offset, "Vec<u8>")
        end = start + length
        if end > len(data):
            raise _eof(start, "Vec<u8>", length, len(data) - start)
        return bytes(data[start:end]), end

    def default(self) -> bytes:
        return b""

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.sequence(U8)

    def registry_key(self, reg: TypeRegistry) -> object:
        return ("seq", reg.register(U8))


class FixedBytes(Codec[bytes]):
    """``[u8; N]`` as Python ``bytes``."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size
        self.type_name = f"[u8; {size}]"

    def encode(self, value: bytes) -> bytes:
        if len(value) != self.size:
            raise ValueError(f"{self.type_name}: found {len(value)} bytes, wanted {self.size}")
        return bytes(value)

    def decode(self, data: bytes, offset: int = 0) -> tuple[bytes, int]:
        end = offset + self.size
        if end > len(data) or offset < 0:
            raise _eof(offset, self.type_name, self.size, len(data) - offset)
        return bytes(data[offset:end]), end

    def default(self) -> bytes:
        return bytes(self.size)

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.array(self.size, U8)

    def registry_key(self, reg: TypeRegistry) -> object:
        return ("array", self.size, reg.register(U8))


U8 = UInt(8)
U16 = UInt(16)
U32 = UInt(32)
U64 = UInt(64)
U128 = UInt(128)
U256 = UInt(256)
I8 = SInt(8)
I16 = SInt(16)
I32 = SInt(32)
I64 = SInt(64)
I128 = SInt(128)
Bool = BoolCodec()
Str = StrCodec()
Bytes = BytesCodec()


# --- compact ------------------------------------------------------------------------------------


class Compact(Codec[int]):
    """``Compact<T>`` for an unsigned integer type ``T``."""

    __slots__ = ("inner",)

    def __init__(self, inner: UInt) -> None:
        self.inner = inner
        self.type_name = f"Compact<{inner.type_name}>"

    def encode(self, value: int) -> bytes:
        if value > self.inner.max:
            raise ValueError(f"{self.type_name}: found {value}, wanted 0..={self.inner.max}")
        return encode_compact(value)

    def decode(self, data: bytes, offset: int = 0) -> tuple[int, int]:
        value, end = _read_len(data, offset, self.type_name)
        if value > self.inner.max:
            raise decode_error(offset, self.type_name, f"value {value}", f"at most {self.inner.max}")
        return value, end

    def default(self) -> int:
        return 0

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.compact(self.inner)

    def registry_key(self, reg: TypeRegistry) -> object:
        return ("compact", reg.register(self.inner))


# --- collections --------------------------------------------------------------------------------


class Vec(Codec[list[T]]):
    __slots__ = ("inner",)

    def __init__(self, inner: Codec[T]) -> None:
        self.inner = inner
        self.type_name = f"Vec<{inner.type_name}>"

    def encode(self, value: Sequence[T]) -> bytes:
        enc = self.inner.encode
        return encode_compact(len(value)) + b"".join(enc(v) for v in value)

    def decode(self, data: bytes, offset: int = 0) -> tuple[list[T], int]:
        length, pos = _read_len(data, offset, self.type_name)
        # Every element takes at least one byte, except the unit type: bound before looping.
        limit = 65_536 if isinstance(self.inner, Tuple) and not self.inner.items else len(data) - pos
        if length > limit:
            raise decode_error(offset, self.type_name, f"length {length}", f"at most {limit}")
        dec = self.inner.decode
        out: list[T] = []
        append = out.append
        for _ in range(length):
            item, pos = dec(data, pos)
            append(item)
        return out, pos

    def default(self) -> list[T]:
        return []

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.sequence(self.inner)

    def registry_key(self, reg: TypeRegistry) -> object:
        return ("seq", reg.register(self.inner))


class BoundedVec(Codec[T]):
    """``BoundedVec<T, S>``: a ``Vec<T>`` (bytes for ``u8``) of at most ``max_len`` items.

    Encodes exactly like the vector; decoding more than ``max_len`` items is a ``DecodeError``
    (what ``BoundedVec::decode`` does). ``enforce=False`` leaves the bound to the pallet, which
    then fails with its own declared error (``NameTooLong``) instead of making the whole
    extrinsic undecodable. ``bound`` names ``S`` in the type name (``T::MaxNameLen``; the number
    by default). In metadata it is the composite
    ``bounded_collections::bounded_vec::BoundedVec<T, S>`` around ``Vec<T>``, as in FRAME."""

    __slots__ = ("enforce", "inner", "max_len", "vec")

    def __init__(
        self, inner: AnyCodec, max_len: int, *, bound: str | None = None, enforce: bool = True
    ) -> None:
        self.inner = inner
        self.max_len = max_len
        self.enforce = enforce
        self.vec: AnyCodec = Bytes if inner is U8 else Vec(inner)
        self.type_name = f"BoundedVec<{inner.type_name}, {max_len if bound is None else bound}>"

    def encode(self, value: T) -> bytes:
        if self.enforce and len(cast("Sequence[object]", value)) > self.max_len:
            raise ValueError(
                f"{self.type_name}: found {len(cast('Sequence[object]', value))} items, "
                f"wanted at most {self.max_len}"
            )
        return self.vec.encode(value)

    def decode(self, data: bytes, offset: int = 0) -> tuple[T, int]:
        if self.enforce:
            length, _ = _read_len(data, offset, self.type_name)
            if length > self.max_len:
                raise decode_error(offset, self.type_name, f"{length} items", f"at most {self.max_len}")
        return cast("tuple[T, int]", self.vec.decode(data, offset))

    def default(self) -> T:
        return cast(T, self.vec.default())

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.composite(
            ("bounded_collections", "bounded_vec", "BoundedVec"),
            (field(None, self.vec, "Vec<T>"),),
            (("T", self.inner), ("S", None)),
            (),
        )

    def registry_key(self, reg: TypeRegistry) -> object:
        # Like scale-info with S skipped: one entry per element type.
        return ("bounded_vec", reg.register(self.inner))


class Array(Codec[list[T]]):
    """``[T; N]`` for element types other than ``u8`` (use ``FixedBytes`` for those)."""

    __slots__ = ("inner", "size")

    def __init__(self, inner: Codec[T], size: int) -> None:
        self.inner = inner
        self.size = size
        self.type_name = f"[{inner.type_name}; {size}]"

    def encode(self, value: Sequence[T]) -> bytes:
        if len(value) != self.size:
            raise ValueError(f"{self.type_name}: found {len(value)} items, wanted {self.size}")
        return b"".join(self.inner.encode(v) for v in value)

    def decode(self, data: bytes, offset: int = 0) -> tuple[list[T], int]:
        out: list[T] = []
        for _ in range(self.size):
            item, offset = self.inner.decode(data, offset)
            out.append(item)
        return out, offset

    def default(self) -> list[T]:
        return [self.inner.default() for _ in range(self.size)]

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.array(self.size, self.inner)

    def registry_key(self, reg: TypeRegistry) -> object:
        return ("array", self.size, reg.register(self.inner))


class Tuple(Codec[tuple[object, ...]]):
    """``(A, B, ...)``; ``Tuple()`` is the unit type ``()``."""

    __slots__ = ("items",)

    def __init__(self, *items: AnyCodec) -> None:
        self.items = items
        self.type_name = "(" + ", ".join(i.type_name for i in items) + ")"

    def encode(self, value: Sequence[object]) -> bytes:
        if len(value) != len(self.items):
            raise ValueError(f"{self.type_name}: found {len(value)} items, wanted {len(self.items)}")
        return b"".join(c.encode(v) for c, v in zip(self.items, value, strict=True))

    def decode(self, data: bytes, offset: int = 0) -> tuple[tuple[object, ...], int]:
        out = []
        for c in self.items:
            item, offset = c.decode(data, offset)
            out.append(item)
        return tuple(out), offset

    def default(self) -> tuple[object, ...]:
        return tuple(c.default() for c in self.items)

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.tuple_of(self.items)

    def registry_key(self, reg: TypeRegistry) -> object:
        return ("tuple", tuple(reg.register(i) for i in self.items))


Unit = Tuple()


class Option(Codec["T | None"]):
    """``Option<T>``: 0x00, or 0x01 ++ T. ``Option<bool>`` too: parity-scale-codec's one-byte form
    is the separate ``OptionBool`` shim type, and metadata describes the generic enum."""

    __slots__ = ("inner",)

    def __init__(self, inner: Codec[T]) -> None:
        self.inner = inner
        self.type_name = f"Option<{inner.type_name}>"

    def encode(self, value: T | None) -> bytes:
        if value is None:
            return b"\x00"
        return b"\x01" + self.inner.encode(value)

    def decode(self, data: bytes, offset: int = 0) -> tuple[T | None, int]:
        if offset >= len(data):
            raise _eof(offset, self.type_name, 1, 0)
        tag = data[offset]
        if tag == 0:
            return None, offset + 1
        if tag == 1:
            return self.inner.decode(data, offset + 1)
        raise decode_error(offset, self.type_name, f"tag {tag:#04x}", "0x00 (None) or 0x01 (Some)")

    def default(self) -> T | None:
        return None

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.option(self.inner)

    def registry_key(self, reg: TypeRegistry) -> object:
        return ("option", reg.register(self.inner))


# --- composites and variants --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """A named (or unnamed, ``name=None``) field of a struct or variant."""

    name: str | None
    codec: AnyCodec
    type_name: str | None = None
    docs: tuple[str, ...] = ()


def field(
    name: str | None, codec: Codec[T], type_name: str | None = None, docs: str | Sequence[str] = ()
) -> Field:
    """Declare a field; ``type_name`` is the Rust type text wallets show (e.g. ``"T::Balance"``)."""
    doc_lines = tuple(docs.split("\n")) if isinstance(docs, str) else tuple(docs)
    return Field(name=name, codec=codec, type_name=type_name, docs=doc_lines)


Params: TypeAlias = Sequence[tuple[str, "AnyCodec | None"]]


# A flat layout of unsigned integers: (name, byte size, nested layout or None).
_Plan: TypeAlias = tuple[tuple[str, int, "_Plan | None"], ...]


def _int_plan(codec: object) -> tuple[int, _Plan | None] | None:
    """``(size, nested plan)`` when ``codec`` is made of fixed-size unsigned integers only."""
    while isinstance(codec, NewType):
        codec = codec.inner
    if isinstance(codec, UInt):
        return codec.size, None
    if isinstance(codec, Struct) and codec.plan is not None:
        return codec.size, codec.plan
    return None


def _decode_plan(plan: _Plan, data: bytes, pos: int) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, size, sub in plan:
        if sub is None:
            out[name] = int.from_bytes(data[pos : pos + size], "little")
        else:
            out[name] = _decode_plan(sub, data, pos)
        pos += size
    return out


def _encode_plan(plan: _Plan, value: dict[str, object], parts: list[bytes]) -> None:
    for name, size, sub in plan:
        if sub is None:
            parts.append(cast(int, value[name]).to_bytes(size, "little"))
        else:
            _encode_plan(sub, cast("dict[str, object]", value[name]), parts)


class Struct(Codec[dict[str, object]]):
    """A Rust struct with named fields; values are dicts in declaration order.

    A struct of fixed-size unsigned integers only (``AccountInfo``, ``AccountData``) decodes and
    encodes through a precomputed flat layout: one bounds check, then slices."""

    __slots__ = ("_pairs", "docs", "fields", "params", "path", "plan", "size")

    def __init__(
        self,
        path: str,
        fields: Sequence[Field],
        *,
        params: Params = (),
        docs: Sequence[str] = (),
    ) -> None:
        self.path = tuple(path.split("::")) if path else ()
        self.fields = tuple(fields)
        self.params = tuple(params)
        self.docs = tuple(docs)
        self._pairs = tuple((f.name or "", f.codec) for f in self.fields)
        self.type_name = path.rsplit("::", 1)[-1] if path else "struct"
        self.plan: _Plan | None = None
        self.size = 0
        layout = [(f.name, _int_plan(f.codec)) for f in self.fields]
        if self.fields and all(n is not None and p is not None for n, p in layout):
            self.plan = tuple((cast(str, n), p[0], p[1]) for n, p in layout if p is not None)
            self.size = sum(size for _, size, _ in self.plan)

    def encode(self, value: dict[str, object]) -> bytes:
        try:
            if self.plan is not None:
                parts: list[bytes] = []
                _encode_plan(self.plan, value, parts)
                return b"".join(parts)
            return b"".join(c.encode(value[n]) for n, c in self._pairs)
        except KeyError as exc:
            raise ValueError(
                f"{self.type_name}: found no field {exc.args[0]!r}, "
                f"wanted fields {[n for n, _ in self._pairs]}"
            ) from None
        except OverflowError:
            raise ValueError(
                f"{self.type_name}: found an integer field out of range, wanted each to fit its width"
            ) from None

    def decode(self, data: bytes, offset: int = 0) -> tuple[dict[str, object], int]:
        if self.plan is not None:
            end = offset + self.size
            if end > len(data) or offset < 0:
                raise _eof(offset, self.type_name, self.size, len(data) - offset)
            return _decode_plan(self.plan, data, offset), end
        out: dict[str, object] = {}
        for name, c in self._pairs:
            out[name], offset = c.decode(data, offset)
        return out, offset

    def default(self) -> dict[str, object]:
        return {n: c.default() for n, c in self._pairs}

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.composite(self.path, self.fields, self.params, self.docs)


class NewType(Codec[T]):
    """A one-field tuple struct (``AccountId32([u8; 32])``, ``H256``): encodes as its field."""

    # No __slots__: encode/decode are bound straight to the inner codec's (one call less).

    def __init__(
        self, path: str, inner: Codec[T], *, inner_type_name: str | None = None, docs: Sequence[str] = ()
    ) -> None:
        self.path = tuple(path.split("::"))
        self.inner = inner
        self.inner_type_name = inner_type_name
        self.docs = tuple(docs)
        self.type_name = self.path[-1]
        self.encode = inner.encode  # type: ignore[method-assign]
        self.decode = inner.decode  # type: ignore[method-assign]

    def default(self) -> T:
        return self.inner.default()

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.composite(
            self.path,
            (field(None, self.inner, self.inner_type_name),),
            (),
            self.docs,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """One enum variant: unit (no fields), tuple-like (unnamed) or struct-like (named)."""

    name: str
    index: int
    fields: tuple[Field, ...] = ()
    docs: tuple[str, ...] = ()

    @property
    def named(self) -> bool:
        return bool(self.fields) and self.fields[0].name is not None


def variant(name: str, index: int, fields: Sequence[Field] = (), docs: str | Sequence[str] = ()) -> Variant:
    doc_lines = tuple(docs.split("\n")) if isinstance(docs, str) else tuple(docs)
    return Variant(name=name, index=index, fields=tuple(fields), docs=doc_lines)


class Enum(Codec[EnumValue]):
    """A Rust enum. Values are ``(name, payload)``: payload ``None`` for a unit variant, the
    value for a one-field tuple variant, a tuple for several unnamed fields, a dict for named
    fields. ``encode`` also accepts a bare variant name for unit variants."""

    __slots__ = ("_by_index", "_by_name", "docs", "params", "path", "variants")

    def __init__(
        self, path: str, variants: Sequence[Variant], *, params: Params = (), docs: Sequence[str] = ()
    ) -> None:
        self.path = tuple(path.split("::")) if path else ()
        self.variants = tuple(variants)
        self.params = tuple(params)
        self.docs = tuple(docs)
        self.type_name = self.path[-1] if self.path else "enum"
        self._by_index: dict[int, Variant] = {v.index: v for v in self.variants}
        self._by_name: dict[str, Variant] = {v.name: v for v in self.variants}
        if len(self._by_index) != len(self.variants) or len(self._by_name) != len(self.variants):
            raise ValueError(f"{path}: duplicate variant index or name")

    def variant_named(self, name: str) -> Variant:
        try:
            return self._by_name[name]
        except KeyError:
            raise ValueError(
                f"{self.type_name}: found variant {name!r}, wanted one of {sorted(self._by_name)}"
            ) from None

    def encode(self, value: EnumValue | str) -> bytes:
        if isinstance(value, str):
            name, payload = value, None
        else:
            name, payload = value
        v = self.variant_named(name)
        head = bytes((v.index,))
        fields = v.fields
        if not fields:
            return head
        if v.named:
            if not isinstance(payload, dict):
                raise TypeError(
                    f"{self.type_name}::{name} payload: found {type(payload).__name__}, wanted a dict"
                )
            return head + b"".join(f.codec.encode(payload[f.name]) for f in fields)
        if len(fields) == 1:
            return head + fields[0].codec.encode(payload)
        items = cast("Sequence[object]", payload)
        return head + b"".join(f.codec.encode(x) for f, x in zip(fields, items, strict=True))

    def decode(self, data: bytes, offset: int = 0) -> tuple[EnumValue, int]:
        if offset >= len(data):
            raise _eof(offset, self.type_name, 1, 0)
        idx = data[offset]
        v = self._by_index.get(idx)
        if v is None:
            raise decode_error(
                offset, self.type_name, f"variant index {idx}", f"one of {sorted(self._by_index)}"
            )
        pos = offset + 1
        fields = v.fields
        if not fields:
            return (v.name, None), pos
        if v.named:
            out: dict[str, object] = {}
            for f in fields:
                out[f.name or ""], pos = f.codec.decode(data, pos)
            return (v.name, out), pos
        if len(fields) == 1:
            value, pos = fields[0].codec.decode(data, pos)
            return (v.name, value), pos
        items = []
        for f in fields:
            item, pos = f.codec.decode(data, pos)
            items.append(item)
        return (v.name, tuple(items)), pos

    def default(self) -> EnumValue:
        first = min(self.variants, key=lambda v: v.index)
        if first.fields:
            raise NotImplementedError(f"{self.type_name} has no default")
        return (first.name, None)

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return reg.variant(self.path, self.variants, self.params, self.docs)


def unit_enum(path: str, names: Sequence[str], docs: Sequence[str] = ()) -> Enum:
    """A C-like enum whose variants are indexed in declaration order."""
    return Enum(path, [variant(n, i) for i, n in enumerate(names)], docs=docs)


class Result(Enum):
    """``Result<T, E>``: ``("Ok", value)`` or ``("Err", error)``."""

    __slots__ = ()

    def __init__(self, ok: AnyCodec, err: AnyCodec) -> None:
        super().__init__(
            "Result",
            [variant("Ok", 0, [field(None, ok)]), variant("Err", 1, [field(None, err)])],
            params=(("T", ok), ("E", err)),
        )
        self.type_name = f"Result<{ok.type_name}, {err.type_name}>"

    def registry_key(self, reg: TypeRegistry) -> object:
        ok, err = self.variants[0].fields[0].codec, self.variants[1].fields[0].codec
        return ("result", reg.register(ok), reg.register(err))


# --- Era ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MortalEra:
    """``Era::Mortal(period, phase)``; immortal is ``None``."""

    period: int
    phase: int

    def birth(self, current: int) -> int:
        return (max(current, self.phase) - self.phase) // self.period * self.period + self.phase

    def death(self, current: int) -> int:
        return self.birth(current) + self.period

    @classmethod
    def for_block(cls, current: int, period: int) -> MortalEra:
        """The era a client builds at block ``current`` (``Era::mortal``)."""
        period = min(max(1 << (max(period, 2) - 1).bit_length(), 4), 1 << 16)
        phase = current % period
        quantize = max(period >> 12, 1)
        return cls(period, phase // quantize * quantize)


class EraCodec(Codec["MortalEra | None"]):
    __slots__ = ()

    def __init__(self) -> None:
        self.type_name = "Era"

    def encode(self, value: MortalEra | None) -> bytes:
        if value is None:
            return b"\x00"
        quantize = max(value.period >> 12, 1)
        trailing = (value.period & -value.period).bit_length() - 1
        encoded = min(15, max(1, trailing - 1)) | ((value.phase // quantize) << 4)
        return encoded.to_bytes(2, "little")

    def decode(self, data: bytes, offset: int = 0) -> tuple[MortalEra | None, int]:
        if offset >= len(data):
            raise _eof(offset, "Era", 1, 0)
        if data[offset] == 0:
            return None, offset + 1
        if offset + 2 > len(data):
            raise _eof(offset, "Era", 2, len(data) - offset)
        encoded = data[offset] | (data[offset + 1] << 8)
        period = 2 << (encoded % 16)
        quantize = max(period >> 12, 1)
        phase = (encoded >> 4) * quantize
        if period < 4 or phase >= period:
            raise decode_error(offset, "Era", f"period {period} phase {phase}", "4 <= period, phase < period")
        return MortalEra(period, phase), offset + 2

    def default(self) -> MortalEra | None:
        return None

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        variants = [variant("Immortal", 0)]
        variants += [variant(f"Mortal{i}", i, [field(None, U8)]) for i in range(1, 256)]
        return reg.variant(("sp_runtime", "generic", "era", "Era"), variants, (), ())


Era = EraCodec()


# --- lazy references (recursive types such as RuntimeCall inside Sudo::sudo) ----------------------


class Lazy(Codec[T]):
    """A codec resolved on first use; lets a declaration refer to a type built later."""

    __slots__ = ("_get", "_target")

    def __init__(self, type_name: str, get: Callable[[], Codec[T]]) -> None:
        self.type_name = type_name
        self._get = get
        self._target: Codec[T] | None = None

    def target(self) -> Codec[T]:
        if self._target is None:
            self._target = self._get()
        return self._target

    def encode(self, value: T) -> bytes:
        return self.target().encode(value)

    def decode(self, data: bytes, offset: int = 0) -> tuple[T, int]:
        return self.target().decode(data, offset)

    def default(self) -> T:
        return self.target().default()

    def type_spec(self, reg: TypeRegistry) -> TypeSpec:
        return self.target().type_spec(reg)

    def registry_key(self, reg: TypeRegistry) -> object:
        return self.target().registry_key(reg)


# Common Substrate newtypes.
AccountId = NewType("sp_core::crypto::AccountId32", FixedBytes(32), inner_type_name="[u8; 32]")
H256 = NewType("primitive_types::H256", FixedBytes(32), inner_type_name="[u8; 32]")
