"""Our trie against smoldot's, as shipped in @acala-network/chopsticks-executor (wasm).

One ``node js/trie_roots.js`` process serves the module: roots for seeded random key sets (both
state versions), roots along chains of incremental updates with deletions, our read proofs decoded
by its ``decode_proof``, and its proofs (``create_proof``) checked by our verifier. Plus one
vector from Substrate itself: the genesis hash of Rococo Asset Hub from its raw chain spec.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from phala_agents.chain.trie import StateTrie, ordered_trie_root, trie_root, verify_read_proof
from phala_agents.scale import blake2_256, encode_compact

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "js" / "trie_roots.js"
EXECUTOR = REPO / "js" / "node_modules" / "@acala-network" / "chopsticks-executor"


class Executor:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc

    def ask(self, request: dict[str, object]) -> dict[str, object]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        assert line, "trie_roots.js exited"
        answer: dict[str, object] = json.loads(line)
        assert "error" not in answer, answer["error"]
        return answer

    def root(self, items: dict[bytes, bytes], version: int) -> bytes:
        root = self.ask({"op": "root", "entries": _entries(items), "version": version})["root"]
        assert isinstance(root, str)
        return bytes.fromhex(root[2:])


@pytest.fixture(scope="module")
def executor() -> Iterator[Executor]:
    if shutil.which("node") is None or not EXECUTOR.is_dir():
        pytest.skip("node or js/node_modules (chopsticks-executor) is not installed")
    proc = subprocess.Popen(
        ["node", str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        yield Executor(proc)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _entries(items: dict[bytes, bytes]) -> list[list[str]]:
    return [[_hex(k), _hex(v)] for k, v in items.items()]


def _random_items(rng: random.Random, n: int) -> dict[bytes, bytes]:
    items: dict[bytes, bytes] = {}
    for _ in range(n):
        key = rng.randbytes(rng.choice([0, 1, 2, 3, 32, 48, 64, 1100]))
        if items and rng.random() < 0.3:  # a prefix or an extension of an existing key
            base = rng.choice(list(items))
            key = base[: rng.randrange(len(base) + 1)] + key[: rng.randrange(3)]
        items[key] = rng.randbytes(rng.choice([0, 0, 1, 31, 32, 33, 34, 80, 300]))
    return items


@pytest.mark.parametrize("seed", range(12))
def test_roots_match(executor: Executor, seed: int) -> None:
    rng = random.Random(seed)
    for n in (0, 1, 2, 3, 5, 8, 20, 60, 250):
        items = _random_items(rng, n)
        for version in (0, 1):
            assert trie_root(items, state_version=version) == executor.root(items, version), (
                seed,
                n,
                version,
            )
        assert StateTrie.from_items(items).root == executor.root(items, 1)


@pytest.mark.parametrize("seed", range(6))
def test_incremental_roots_match(executor: Executor, seed: int) -> None:
    rng = random.Random(1000 + seed)
    model = _random_items(rng, 200)
    trie = StateTrie.from_items(model)
    for _ in range(8):
        changes: dict[bytes, bytes | None] = {}
        for key in rng.sample(sorted(model), min(len(model), 30)):
            changes[key] = None if rng.random() < 0.5 else rng.randbytes(rng.choice([0, 32, 33, 60]))
        changes.update(_random_items(rng, 20))
        trie = trie.apply(changes)
        for k, v in changes.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
        assert trie.root == executor.root(model, 1)
        assert len(trie) == len(model)
    # Delete everything: down to the empty root.
    trie = trie.apply(dict.fromkeys(model))
    assert trie.root == executor.root({}, 1)


@pytest.mark.parametrize("seed", range(6))
def test_our_proofs_decode_with_its_code(executor: Executor, seed: int) -> None:
    rng = random.Random(2000 + seed)
    for n in (0, 1, 5, 40, 300):
        items = _random_items(rng, n)
        trie = StateTrie.from_items(items)
        wanted = [*rng.sample(sorted(items), min(len(items), 6)), rng.randbytes(32), b"\x00"]
        proof = trie.read_proof(wanted)
        answer = executor.ask(
            {"op": "decode_proof", "root": _hex(trie.root), "nodes": [_hex(p) for p in proof]}
        )
        entries = answer["entries"]
        assert isinstance(entries, list)
        decoded = {bytes.fromhex(k[2:]): bytes.fromhex(v[2:]) for k, v in entries}
        for key in wanted:
            assert decoded.get(key) == items.get(key), (seed, n, key.hex())
        # It reports every value the proof reveals; each must be the real one.
        assert all(items.get(k) == v for k, v in decoded.items())


@pytest.mark.parametrize("seed", range(6))
def test_its_proofs_verify_with_our_verifier(executor: Executor, seed: int) -> None:
    rng = random.Random(3000 + seed)
    for n in (1, 5, 40, 300):  # create_proof panics on an empty key set
        items = _random_items(rng, n)
        # Its proof builder writes every value inline, i.e. a state-version-0 trie.
        answer = executor.ask({"op": "create_proof", "nodes": [], "updates": _entries(items)})
        root = bytes.fromhex(str(answer["root"])[2:])
        assert root == trie_root(items, state_version=0)
        nodes = answer["nodes"]
        assert isinstance(nodes, list)
        wanted = [*rng.sample(sorted(items), min(len(items), 6)), rng.randbytes(32)]
        got = verify_read_proof(root, [bytes.fromhex(x[2:]) for x in nodes], wanted)
        assert got == {k: items.get(k) for k in wanted}


# The public genesis hash of Rococo Asset Hub (statemine spec 900 in connect-known-chains'
# rococo_v2_2_asset_hub spec): computed by real Substrate nodes, so it checks our trie against
# Substrate itself (state version 0: the chain's genesis runtime predates version 1), not only
# against smoldot. Its storage holds the 605 KB :code value and 53 keys.
ROCOCO_ASSET_HUB_GENESIS = "7c34d42fc815d392057c78b49f2755c753440ccd38bcb0405b3bcfb601d08734"


def test_rococo_asset_hub_genesis_hash(executor: Executor) -> None:
    spec_text = subprocess.run(
        [
            "node",
            "-e",
            'import("@substrate/connect-known-chains/rococo_v2_2_asset_hub")'
            ".then((m) => process.stdout.write(m.chainSpec))",
        ],
        cwd=REPO / "js",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    raw = json.loads(spec_text)["genesis"]["raw"]
    assert not raw["childrenDefault"]
    top = {bytes.fromhex(k[2:]): bytes.fromhex(v[2:]) for k, v in raw["top"].items()}
    state_root = trie_root(top, state_version=0)
    assert state_root == executor.root(top, 0)
    assert trie_root(top) == executor.root(top, 1) == StateTrie.from_items(top).root
    # Genesis header: parent 0x00..00, number compact(0), state root, extrinsics root (empty
    # trie), empty digest; the block hash is blake2-256 of its encoding.
    header = bytes(32) + encode_compact(0) + state_root + ordered_trie_root([]) + encode_compact(0)
    assert blake2_256(header).hex() == ROCOCO_ASSET_HUB_GENESIS
