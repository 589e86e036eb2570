"""Descriptors: what a chain offers (pallet -> storage / calls / events / errors / constants).

They are read from the node's metadata, like an outside client would, and carry the hash of that
metadata (blake2-256 of its SCALE bytes). A client built for given descriptors refuses to talk to
a node whose metadata hash differs (``IncompatibleMetadata``), before it sends anything
(paritytech/subxt ``IncompatibleCodegen``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from phala_agents.errors import DecodeError


@dataclass(frozen=True, slots=True, kw_only=True)
class PalletDescriptor:
    """One pallet's names in FRAME spelling and its index in the runtime."""

    name: str
    index: int
    storage: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    constants: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptors:
    """Every pallet of one runtime, and the hash of the metadata they were read from."""

    metadata_hash: str
    spec_name: str
    spec_version: int
    pallets: tuple[PalletDescriptor, ...]

    def pallet(self, name: str) -> PalletDescriptor | None:
        for pallet in self.pallets:
            if pallet.name == name:
                return pallet
        return None

    @property
    def pallet_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.pallets)

    def to_json(self) -> str:
        """A stable JSON document (e.g. to check in as ``descriptors/<chain>.json``)."""
        return json.dumps(
            {
                "metadata_hash": self.metadata_hash,
                "spec_name": self.spec_name,
                "spec_version": self.spec_version,
                "pallets": [
                    {
                        "name": p.name,
                        "index": p.index,
                        "storage": list(p.storage),
                        "calls": list(p.calls),
                        "events": list(p.events),
                        "errors": list(p.errors),
                        "constants": list(p.constants),
                    }
                    for p in self.pallets
                ],
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Descriptors:
        try:
            data = json.loads(text)
            return cls(
                metadata_hash=str(data["metadata_hash"]),
                spec_name=str(data["spec_name"]),
                spec_version=int(data["spec_version"]),
                pallets=tuple(
                    PalletDescriptor(
                        name=str(p["name"]),
                        index=int(p["index"]),
                        storage=tuple(p.get("storage", ())),
                        calls=tuple(p.get("calls", ())),
                        events=tuple(p.get("events", ())),
                        errors=tuple(p.get("errors", ())),
                        constants=tuple(p.get("constants", ())),
                    )
                    for p in data["pallets"]
                ),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DecodeError(
                f"descriptors: found malformed JSON ({exc}), wanted Descriptors.to_json output"
            ) from exc


def _names(items: Any) -> tuple[str, ...]:
    return tuple(str(item.name) for item in items) if items else ()


def descriptors_from_metadata(
    metadata: Any, *, metadata_hash: str, spec_name: str, spec_version: int
) -> Descriptors:
    """Read every pallet of a decoded (scalecodec) V14 metadata object."""
    pallets = []
    for pallet in metadata.pallets:
        storage = tuple(
            str(entry.value["name"])
            for entry in (pallet.storage or ())
            # scalecodec lists a synthetic ':__STORAGE_VERSION__:' entry; it is not on chain.
            if not str(entry.value["name"]).startswith(":")
        )
        pallets.append(
            PalletDescriptor(
                name=str(pallet.name),
                index=int(pallet.value["index"]),
                storage=storage,
                calls=_names(pallet.calls),
                events=_names(pallet.events),
                errors=_names(pallet.errors),
                constants=_names(pallet.constants),
            )
        )
    return Descriptors(
        metadata_hash=metadata_hash, spec_name=spec_name, spec_version=spec_version, pallets=tuple(pallets)
    )
