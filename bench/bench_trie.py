"""Benchmark the state trie: build, incremental apply, read proofs (medians of several runs).

    .venv/bin/python bench/bench_trie.py            # print the table
    .venv/bin/python bench/bench_trie.py --write    # also replace the "Trie" section of docs/benchmarks.md

Keys are random 32-64-byte strings, values random 0-100 bytes (so about two thirds of them are
33 bytes or more and hashed into their own node, as in state version 1). Seeded, so runs compare.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable

from _report import write_section
from phala_agents.chain.trie import StateTrie, trie_root, verify_read_proof


def _items(rng: random.Random, n: int) -> dict[bytes, bytes]:
    return {rng.randbytes(rng.randint(32, 64)): rng.randbytes(rng.randint(0, 100)) for _ in range(n)}


def _median(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time of ``runs`` calls (CPU time shows the cost when the
    shared machine is busy and wall time does not)."""
    wall, cpu = [], []
    for _ in range(runs):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def _ms(seconds: tuple[float, float]) -> str:
    return f"{seconds[0] * 1000:,.1f} ms | {seconds[1] * 1000:,.1f} ms"


def run() -> list[tuple[str, str]]:
    rng = random.Random(20261125)
    rows: list[tuple[str, str]] = []
    for n, runs in ((10_000, 7), (100_000, 5)):
        items = _items(rng, n)
        rows.append(
            (
                f"from_items + root, {n:,} keys",
                _ms(_median(lambda items=items: StateTrie.from_items(items).root, runs)),
            )
        )
        rows.append(
            (f"trie_root from scratch, {n:,} keys", _ms(_median(lambda items=items: trie_root(items), runs)))
        )

    base_items = _items(rng, 100_000)
    base = StateTrie.from_items(base_items)
    base.root  # noqa: B018 - hash the base once, as the node's previous block is
    keys = list(base_items)
    # A block of 1,000 transfers: ~3,000 changed keys (2 balances + 1 nonce each, some events),
    # mostly updates of existing accounts, some new accounts and a few deletions.
    changes: dict[bytes, bytes | None] = {k: rng.randbytes(80) for k in rng.sample(keys, 2_700)}
    changes.update({rng.randbytes(48): rng.randbytes(80) for _ in range(250)})
    changes.update(dict.fromkeys(rng.sample(keys, 50)))
    rows.append(
        ("apply 3,000 changes to 100,000 keys (no hashing)", _ms(_median(lambda: base.apply(changes), 9)))
    )
    rows.append(
        ("apply 3,000 changes to 100,000 keys + new root", _ms(_median(lambda: base.apply(changes).root, 9)))
    )
    rows.append(
        (
            "same block as a from-scratch trie_root (for contrast)",
            _ms(
                _median(
                    lambda: trie_root({**base_items, **{k: v for k, v in changes.items() if v is not None}}),
                    3,
                )
            ),
        )
    )

    small = dict(list(changes.items())[:20])
    rows.append(
        (
            "apply 20 changes (an instant-seal block) + new root",
            _ms(_median(lambda: base.apply(small).root, 51)),
        )
    )

    one = [keys[0]]
    hundred = rng.sample(keys, 100)
    proof_1 = base.read_proof(one)
    proof_100 = base.read_proof(hundred)
    rows.append(("read_proof, 1 key of 100,000", _ms(_median(lambda: base.read_proof(one), 51))))
    rows.append(("read_proof, 100 keys of 100,000", _ms(_median(lambda: base.read_proof(hundred), 21))))
    rows.append(
        (
            "verify_read_proof, 100 keys",
            _ms(_median(lambda: verify_read_proof(base.root, proof_100, hundred), 21)),
        )
    )
    rows.append(
        (
            "proof size, 1 key / 100 keys",
            f"{len(proof_1)} nodes, {sum(map(len, proof_1)):,} B / "
            f"{len(proof_100)} nodes, {sum(map(len, proof_100)):,} B | -",
        )
    )
    rows.append(("get, 100 keys", _ms(_median(lambda: [base.get(k) for k in hundred], 51))))

    gc.collect()
    tracemalloc.start()
    trie = StateTrie.from_items(base_items)
    trie.root  # noqa: B018
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows.append(("memory of a hashed 100,000-key trie (values included)", f"{size / 2**20:,.0f} MiB | -"))
    return rows


def markdown(rows: list[tuple[str, str]]) -> str:
    lines = [
        "## Trie",
        "",
        "`bench/bench_trie.py` (`phala_agents.chain.trie`, pure Python, CPython 3.11). Medians. Keys random",
        "32-64 bytes, values random 0-100 bytes. `apply` timings start from a hashed base trie, like the",
        "node's previous block; the `+ new root` row is the whole per-block state-root cost.",
        "",
        f"Load average when measured: {os.getloadavg()[0]:.1f} (2 cores).",
        "",
        "| Operation | Median wall | Median CPU |",
        "|---|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the Trie section of docs/benchmarks.md")
    args = parser.parse_args()
    section = markdown(run())
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
