"""Worker meter, token estimate and receipt ledger costs per call.

.venv/bin/python bench/bench_meter.py            # print the table
.venv/bin/python bench/bench_meter.py --write    # also replace "## Worker meter" in docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from _report import write_section
from phala_agents.errors import InsufficientBudget
from phala_agents.worker.ledger import Ledger, NewReceipt, ReceiptWriter
from phala_agents.worker.meter import GasMeter, Prices, Usage
from phala_agents.worker.tokens import encoding_for_model, estimate_prompt_tokens, install_tiktoken_cache

TITLE = "## Worker meter"

PRICES = Prices(per_1k_input=1_500, per_1k_output=6_000)
USAGE = Usage(prompt_tokens=420, completion_tokens=180)
SHORT = [{"role": "user", "content": "What is the capital of France? Answer in one word please."}]  # 58 chars
LONG_TEXT = ("The quick brown fox jumps over the lazy dog while the meter counts every token. " * 26)[:2048]
LONG = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": LONG_TEXT}]
CONVERSATION = [
    {"role": "user" if i % 2 == 0 else "assistant", "content": f"Turn {i}: " + "some words here " * 12}
    for i in range(10)
]


def _per_call_us(fn: Callable[[int], object], n: int, runs: int = 7) -> float:
    """Median over ``runs`` of the mean time per call of ``fn`` over ``n`` calls, in microseconds."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn(n)
        samples.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(samples)


def _meter_loop(meter: GasMeter, caller: str) -> Callable[[int], object]:
    def run(n: int) -> None:
        for _ in range(n):
            worst = PRICES.cost(input_tokens=500, output_tokens=256)
            r = meter.reserve(caller, worst, worst, prices=PRICES)
            meter.charge(r, USAGE)
            meter.release(r)

    return run


def _full_path(meter: GasMeter) -> Callable[[int], object]:
    def run(n: int) -> None:
        for _ in range(n):
            worst = PRICES.cost(input_tokens=500, output_tokens=256)
            r = meter.reserve("alice", worst, worst, prices=PRICES)
            meter.output_tokens_allowed(r, prompt_tokens=420)
            meter.charge(r, USAGE)
            meter.release(r)
            meter.mark_settled(r.id)

    return run


def _contended(threads: int, n: int) -> float:
    meter = GasMeter()
    meter.set_escrow("alice", 10**18)
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        _meter_loop(meter, "alice")(n)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in pool:
        t.join()
    return (time.perf_counter() - started) / (threads * n) * 1e6


def _refusals(n: int) -> None:
    meter = GasMeter()
    meter.set_escrow("alice", 10)
    for _ in range(n):
        with contextlib.suppress(InsufficientBudget):
            meter.reserve("alice", 100, 100, prices=PRICES)


def run() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    meter = GasMeter()
    meter.set_escrow("alice", 10**18)
    cost = _per_call_us(
        lambda n: [PRICES.cost(input_tokens=420, output_tokens=180) for _ in range(n)], 100_000
    )
    rows.append(("Prices.cost", f"{cost:.2f} µs"))
    rows.append(("reserve + charge + release", f"{_per_call_us(_meter_loop(meter, 'alice'), 50_000):.2f} µs"))
    rows.append(
        (
            "reserve + output_tokens_allowed + charge + release + mark_settled",
            f"{_per_call_us(_full_path(meter), 50_000):.2f} µs",
        )
    )
    rows.append(("a refused reserve (InsufficientBudget)", f"{_per_call_us(_refusals, 50_000):.2f} µs"))
    rows.append(
        (
            "reserve + charge + release, 4 threads contending on one caller",
            f"{statistics.median(_contended(4, 20_000) for _ in range(5)):.2f} µs per call",
        )
    )

    with tempfile.TemporaryDirectory() as tmp:
        install_tiktoken_cache(Path(tmp) / "tiktoken")
        started = time.perf_counter()
        encoding_for_model("gpt-4o").encode_ordinary("warm up")
        rows.append(
            (
                "tiktoken o200k first load (install cache + get_encoding)",
                f"{(time.perf_counter() - started) * 1e3:.0f} ms",
            )
        )
    for name, messages in (
        ("estimate_prompt_tokens, 1 message of 58 chars", SHORT),
        ("estimate_prompt_tokens, 2 messages, 2 KB", LONG),
        ("estimate_prompt_tokens, 10-turn conversation (2.1 KB)", CONVERSATION),
    ):
        us = _per_call_us(
            lambda n, m=messages: [estimate_prompt_tokens(m, "gpt-4o") for _ in range(n)], 2_000
        )
        rows.append((name, f"{us:.1f} µs"))

    for durability in ("process", "power"):
        rows += _ledger_rows(durability)
    return rows


def _ledger_rows(durability: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    what = {"process": "synchronous=NORMAL, no fsync", "power": "synchronous=FULL, an fsync per commit"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Ledger(Path(tmp) / "ledger.sqlite", durability=durability) as ledger,  # type: ignore[arg-type]
    ):
        counter = iter(range(10**9))

        def record(n: int) -> None:
            for _ in range(n):
                i = next(counter)
                ledger.record(
                    id=f"r{i}", caller=b"A" * 32, nonce=i, agent_id=1, agent_version=1,
                    charge=1234, estimated=False, signed=b"s" * 200,
                )  # fmt: skip

        us = _per_call_us(record, 200, runs=5)
        rows.append((f"Ledger.record, durability={durability} ({what[durability]})", f"{us:.0f} µs"))

        async def group(n: int) -> int:
            writer = ReceiptWriter(ledger)
            base = next(counter) * 1000
            await asyncio.gather(
                *(
                    writer.record(
                        NewReceipt(
                            id=f"g{base + i}", caller=b"B" * 32, nonce=base + i, agent_id=1, agent_version=1,
                            charge=1234, estimated=False, signed=b"s" * 200,
                        )
                    )
                    for i in range(n)
                )
            )  # fmt: skip
            await writer.aclose()
            return writer.batches

        samples = []
        for _ in range(5):
            started = time.perf_counter()
            batches = asyncio.run(group(200))
            samples.append((time.perf_counter() - started, batches))
        elapsed, batches = sorted(samples)[len(samples) // 2]
        rows.append(
            (
                f"ReceiptWriter group commit, 200 concurrent receipts, durability={durability}",
                f"{200 / elapsed:,.0f} receipts/s ({batches} commits)",
            )
        )
    return rows


def markdown(rows: list[tuple[str, str]]) -> str:
    lines = [
        TITLE,
        "",
        "`bench/bench_meter.py` (`phala_agents.worker`, CPython 3.11, one process). Per call, median of",
        "runs. The meter is a pure object under one lock; tiktoken estimates use o200k_base; the ledger",
        "writes to the temp dir (ext4 on the VM's disk). The machine is shared: load average at the run "
        f"{os.getloadavg()[0]:.1f} on 2 cores, so expect run-to-run spread of 2-3x.",
        "",
        "| Operation | Median |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help=f"replace the {TITLE[3:]} section of docs/benchmarks.md"
    )
    args = parser.parse_args()
    section = markdown(run())
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
