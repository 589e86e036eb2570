"""``StorageOverlay``: layered writes over a ``StateReader`` with nested transactions.

One dict holds every change since the overlay was made (``None`` = deleted). Each open
transaction keeps an undo journal (key -> previous entry, or ``_ABSENT``), so a read is one dict
lookup at any depth and a rollback restores only the keys that layer touched. This is Substrate's
``OverlayedChanges`` + ``start/commit/rollback_transaction`` in a few lines.
"""

from __future__ import annotations

import bisect

from phala_agents.chain._interface import StateReader

_ABSENT = object()


class StorageOverlay:
    """Implements the ``Overlay`` protocol of ``phala_agents.chain._interface``."""

    __slots__ = ("_base", "_changes", "_journals", "_sorted")

    def __init__(self, base: StateReader) -> None:
        self._base = base
        self._changes: dict[bytes, bytes | None] = {}
        self._journals: list[dict[bytes, object]] = []
        self._sorted: list[bytes] | None = None

    # --- reads --------------------------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        changes = self._changes
        if key in changes:
            return changes[key]
        return self._base.get(key)

    def _sorted_keys(self) -> list[bytes]:
        if self._sorted is None:
            self._sorted = sorted(self._changes)
        return self._sorted

    def next_key(self, key: bytes) -> bytes | None:
        keys = self._sorted_keys()
        i = bisect.bisect_right(keys, key)
        overlay_next: bytes | None = None
        while i < len(keys):
            if self._changes[keys[i]] is not None:
                overlay_next = keys[i]
                break
            i += 1
        base_next = self._base.next_key(key)
        while base_next is not None and base_next in self._changes and self._changes[base_next] is None:
            base_next = self._base.next_key(base_next)
        if base_next is None:
            return overlay_next
        if overlay_next is None:
            return base_next
        return min(base_next, overlay_next)

    # --- writes -------------------------------------------------------------------------------------

    def _write(self, key: bytes, value: bytes | None) -> None:
        changes = self._changes
        if self._journals:
            journal = self._journals[-1]
            if key not in journal:
                journal[key] = changes.get(key, _ABSENT)
        if key not in changes:
            self._sorted = None
        changes[key] = value

    def set(self, key: bytes, value: bytes) -> None:
        self._write(key, bytes(value))

    def delete(self, key: bytes) -> None:
        self._write(key, None)

    def clear_prefix(self, prefix: bytes) -> None:
        doomed = []
        key: bytes | None = prefix
        if self.get(prefix) is not None:
            doomed.append(prefix)
        while True:
            key = self.next_key(key) if key is not None else None
            if key is None or not key.startswith(prefix):
                break
            doomed.append(key)
        for k in doomed:
            self._write(k, None)

    # --- transactions -------------------------------------------------------------------------------

    def start_transaction(self) -> None:
        self._journals.append({})

    def commit_transaction(self) -> None:
        if not self._journals:
            raise RuntimeError("commit_transaction without an open transaction")
        journal = self._journals.pop()
        if self._journals:
            parent = self._journals[-1]
            for key, previous in journal.items():
                if key not in parent:
                    parent[key] = previous

    def rollback_transaction(self) -> None:
        if not self._journals:
            raise RuntimeError("rollback_transaction without an open transaction")
        journal = self._journals.pop()
        changes = self._changes
        for key, previous in journal.items():
            if previous is _ABSENT:
                if key in changes:
                    del changes[key]
                    self._sorted = None
            else:
                changes[key] = previous  # type: ignore[assignment]

    @property
    def transaction_depth(self) -> int:
        return len(self._journals)

    def changes(self) -> dict[bytes, bytes | None]:
        if self._journals:
            raise RuntimeError(f"changes() with {len(self._journals)} open transaction(s)")
        return dict(self._changes)
