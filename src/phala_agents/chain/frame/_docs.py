"""Markdown tables of pallets' declarations (storage, calls, events, errors, constants)."""

from __future__ import annotations

from collections.abc import Iterable

from phala_agents.chain.frame._pallet import Pallet
from phala_agents.chain.frame._runtime import FrameRuntime
from phala_agents.chain.frame._storage import StorageDoubleMap, StorageMap


def _pallet_markdown(index: int, p: Pallet) -> list[str]:
    out = [f"## {p.NAME} (index {index})", ""]
    if p.STORAGE:
        out += ["| storage | kind | hashers | key | value | query |", "| --- | --- | --- | --- | --- | --- |"]
        for s in p.STORAGE:
            if isinstance(s, StorageDoubleMap):
                kind, hashers = "double map", f"{s.hasher1.name}, {s.hasher2.name}"
                key = f"{s.key1_codec.type_name}, {s.key2_codec.type_name}"
            elif isinstance(s, StorageMap):
                kind, hashers, key = "map", s.hasher.name, s.key_codec.type_name
            else:
                kind, hashers, key = "value", "-", "-"
            value = s.value_codec.type_name
            out.append(f"| `{s.name}` | {kind} | {hashers} | `{key}` | `{value}` | {s.query.name} |")
        out.append("")
    if p.CALLS:
        out += ["| call | index | arguments | weight (ref_time) | class |", "| --- | --- | --- | --- | --- |"]
        for c in p.CALLS:
            args = ", ".join(f"{a.name}: {a.type_name or a.codec.type_name}" for a in c.args)
            static = c.static_weight(p)
            weight = "depends on arguments" if static is None else str(static.ref_time)
            out.append(f"| `{c.name}` | {c.index} | `{args}` | {weight} | {c.dispatch_class.value} |")
        out.append("")
    if p.EVENTS:
        events = []
        for i, e in enumerate(p.EVENTS):
            fields = "{" + ", ".join(f.name or "" for f in e.fields) + "}" if e.fields else ""
            events.append(f"`{i}` {e.name}{fields}")
        out += ["Events: " + ", ".join(events) + ".", ""]
    if p.ERRORS:
        out += ["Errors: " + ", ".join(f"`{i}` {e.name}" for i, e in enumerate(p.ERRORS)) + ".", ""]
    if p.CONSTANTS:
        out += ["Constants: " + ", ".join(f"{c.name}: `{c.codec.type_name}`" for c in p.CONSTANTS) + ".", ""]
    return out


def pallets_markdown(
    runtime: FrameRuntime, indices: Iterable[int] | None = None, title: str = "Pallets"
) -> str:
    """A Markdown summary of the runtime's pallets (all, or those at ``indices``)."""
    wanted = set(runtime.pallets) if indices is None else set(indices)
    out = [f"# {title}", ""]
    for index, pallet in runtime.pallets.items():
        if index in wanted:
            out += _pallet_markdown(index, pallet)
    return "\n".join(out).rstrip() + "\n"
