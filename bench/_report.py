"""Shared by the bench scripts: timing one call, and one "## Title" section of docs/benchmarks.md."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\nMachine: 2 cores (Intel Xeon, virtualised), no GPU, shared with other jobs, "
    "so timings are noisy. Every number comes from `make bench` (`bench/run_all.py --write`).\n"
)


def write_section(section: str, docs: Path = DOCS) -> None:
    """Replace the section whose first line is ``section``'s "## Title" line, or append it.

    Sections are separated by one blank line, so tables never run into the next heading.
    """
    title = section.lstrip("\n").splitlines()[0]
    if not title.startswith("## "):
        raise ValueError(f"section must start with a '## ' heading, found {title!r}")
    text = docs.read_text() if docs.exists() else HEADER
    body = section.strip("\n") + "\n"
    start = text.find(f"\n{title}\n")
    if start == -1:
        docs.write_text(text.rstrip("\n") + "\n\n" + body)
        return
    end = text.find("\n## ", start + 1)
    rest = text[end + 1 :] if end != -1 else ""
    docs.write_text(text[: start + 1] + body + ("\n" + rest if rest else ""))


def time_call_us(fn: Callable[[], object], n: int, warmup: int = 50) -> tuple[float, float, float]:
    """Median, p10 and p90 of ``n`` calls in microseconds, after ``warmup`` calls and a GC."""
    for _ in range(warmup):
        fn()
    gc.collect()
    times = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return (
        statistics.median(times) / 1000,
        times[len(times) // 10] / 1000,
        times[(len(times) * 9) // 10] / 1000,
    )


def format_us(stat: tuple[float, float, float]) -> str:
    """``median µs (p10–p90)``."""
    med, p10, p90 = stat
    return f"{med:,.0f} µs ({p10:,.0f}–{p90:,.0f})"
