"""Builds a scale-info ``PortableRegistry`` from codec declarations.

Named types (structs, enums) are de-duplicated by object identity, structural ones (primitives,
sequences, arrays, tuples, compacts, Option, Result) by their shape, the way scale-info gives one
id per Rust type. An id is reserved before a type's definition is walked, so recursive types
(``RuntimeCall`` inside ``Sudo::sudo``) resolve to themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

from phala_agents.scale._metadata import (
    FieldMeta,
    PortableType,
    TypeDef,
    TypeDefArray,
    TypeDefCompact,
    TypeDefComposite,
    TypeDefPrimitive,
    TypeDefSequence,
    TypeDefTuple,
    TypeDefVariant,
    TypeParameter,
    VariantMeta,
)

if TYPE_CHECKING:
    from phala_agents.scale._codec import AnyCodec, Field, Params, Variant

TypeSpec: TypeAlias = tuple[tuple[str, ...], tuple[TypeParameter, ...], TypeDef, tuple[str, ...]]


class TypeRegistry:
    """Assigns registry ids to codecs and collects their portable definitions."""

    def __init__(self) -> None:
        self._ids: dict[object, int] = {}
        self._types: list[PortableType | None] = []
        self._keep: list[object] = []  # keeps id()-keyed codecs alive while the registry lives

    def register(self, codec: AnyCodec) -> int:
        key = codec.registry_key(self)
        found = self._ids.get(key)
        if found is not None:
            return found
        type_id = len(self._types)
        self._ids[key] = type_id
        self._types.append(None)
        self._keep.append(codec)
        path, params, type_def, docs = codec.type_spec(self)
        self._types[type_id] = PortableType(
            id=type_id, path=path, params=params, type_def=type_def, docs=docs
        )
        return type_id

    def types(self) -> tuple[PortableType, ...]:
        out = []
        for t in self._types:
            if t is None:  # pragma: no cover - only during a register() call
                raise RuntimeError("type registry is incomplete")
            out.append(t)
        return tuple(out)

    # --- helpers used by codecs' type_spec ---------------------------------------------------------

    def _fields(self, fields: Sequence[Field]) -> tuple[FieldMeta, ...]:
        return tuple(
            FieldMeta(name=f.name, type=self.register(f.codec), type_name=f.type_name, docs=f.docs)
            for f in fields
        )

    def _params(self, params: Params) -> tuple[TypeParameter, ...]:
        return tuple(TypeParameter(name=n, type=None if c is None else self.register(c)) for n, c in params)

    def primitive(self, name: str) -> TypeSpec:
        return (), (), TypeDefPrimitive(name=name), ()

    def sequence(self, inner: AnyCodec) -> TypeSpec:
        return (), (), TypeDefSequence(type=self.register(inner)), ()

    def array(self, size: int, inner: AnyCodec) -> TypeSpec:
        return (), (), TypeDefArray(len=size, type=self.register(inner)), ()

    def tuple_of(self, items: Sequence[AnyCodec]) -> TypeSpec:
        return (), (), TypeDefTuple(types=tuple(self.register(i) for i in items)), ()

    def compact(self, inner: AnyCodec) -> TypeSpec:
        return (), (), TypeDefCompact(type=self.register(inner)), ()

    def option(self, inner: AnyCodec) -> TypeSpec:
        t = self.register(inner)
        variants = (
            VariantMeta(name="None", fields=(), index=0),
            VariantMeta(name="Some", fields=(FieldMeta(name=None, type=t),), index=1),
        )
        return ("Option",), (TypeParameter(name="T", type=t),), TypeDefVariant(variants=variants), ()

    def composite(
        self, path: tuple[str, ...], fields: Sequence[Field], params: Params, docs: tuple[str, ...]
    ) -> TypeSpec:
        return path, self._params(params), TypeDefComposite(fields=self._fields(fields)), docs

    def variant(
        self, path: tuple[str, ...], variants: Sequence[Variant], params: Params, docs: tuple[str, ...]
    ) -> TypeSpec:
        metas = tuple(
            VariantMeta(name=v.name, fields=self._fields(v.fields), index=v.index, docs=v.docs)
            for v in variants
        )
        return path, self._params(params), TypeDefVariant(variants=metas), docs
