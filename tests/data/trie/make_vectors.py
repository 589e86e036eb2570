"""Regenerate vectors.json: each case's root as computed by chopsticks-executor (smoldot's trie).

Run from the repository root: ``.venv/bin/python tests/data/trie/make_vectors.py`` (needs node and
``js/node_modules``). The cases are fixed here; only the roots come from the executor.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent


def _compact(i: int) -> bytes:
    assert i < 1 << 6
    return bytes((i << 2,))


CASES: dict[str, dict[bytes, bytes]] = {
    "empty": {},
    "single_key": {b"\x00": b"\x01"},
    "empty_key_empty_value": {b"": b""},
    "doe_dog": {
        b"doe": b"reindeer",
        b"dog": b"puppy",
        b"dogglesworth": b"cat",
    },
    "prefix_chain": {b"a" * i: bytes([i]) * i for i in range(8)},
    "value_32_bytes": {b"key": b"\x11" * 32, b"kez": b"\x22" * 32},
    "value_33_bytes": {b"key": b"\x11" * 33, b"kez": b"\x22" * 33},
    "branch_value_33_bytes": {b"k": b"\x33" * 33, b"key": b"v", b"kez": b"w"},
    "long_key": {b"\xab" * 1100: b"long", b"\xab" * 1099 + b"\xac": b"other"},
    "inline_children": {bytes([i]): b"" for i in range(16)},
    "storage_like": {
        bytes.fromhex("26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9")
        + bytes([i]) * 48: bytes([i]) * 80
        for i in range(20)
    },
    "extrinsics_abc": {_compact(i): v for i, v in enumerate([b"a", b"b", b"c"])},
}


def main() -> None:
    node = subprocess.Popen(
        ["node", str(REPO / "js" / "trie_roots.js")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert node.stdin is not None and node.stdout is not None
    out = []
    for name, items in CASES.items():
        entries = [["0x" + k.hex(), "0x" + v.hex()] for k, v in items.items()]
        roots = {}
        for version in (0, 1):
            node.stdin.write(json.dumps({"op": "root", "entries": entries, "version": version}) + "\n")
            node.stdin.flush()
            roots[f"v{version}"] = json.loads(node.stdout.readline())["root"]
        out.append({"name": name, "entries": entries, **roots})
    node.stdin.close()
    node.wait()
    (HERE / "vectors.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
