"""Run every ``bench/bench_*.py`` in turn (``make bench``); extra arguments go to each script.

    .venv/bin/python bench/run_all.py              # print every table
    .venv/bin/python bench/run_all.py --write      # also update docs/benchmarks.md
    .venv/bin/python bench/run_all.py -k node      # only scripts whose name contains "node"

Exit status: 0 when every script succeeded, else 1 (the others still run).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    only: str | None = None
    if "-k" in argv:
        i = argv.index("-k")
        only = argv[i + 1] if i + 1 < len(argv) else None
        argv = argv[:i] + argv[i + 2 :]
    scripts = sorted(p for p in BENCH.glob("bench_*.py") if only is None or only in p.stem)
    failed = []
    for script in scripts:
        print(f"==> {script.name}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *argv], cwd=BENCH.parent)
        print(f"<== {script.name}: exit {code} in {time.perf_counter() - started:.1f} s", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
