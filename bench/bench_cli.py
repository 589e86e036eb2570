"""CLI start time: wall time of ``phala-agent --version`` / ``--help`` and the root app's import time.

.venv/bin/python bench/bench_cli.py                       # print the table
.venv/bin/python bench/bench_cli.py --write               # also replace "## CLI start" in docs/benchmarks.md
.venv/bin/python bench/bench_cli.py --baseline REV        # add a column for the tree at git REV

The command is the venv's ``phala-agent`` console script; the baseline runs the same interpreter
with ``PYTHONPATH`` pointing at ``git archive REV src`` (the editable install is a plain path entry,
so ``PYTHONPATH`` wins). Peers, measured in the same run: ``python -c pass`` (the floor) and
``python -c "import substrateinterface"`` (what every command paid before the imports went lazy).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from _report import write_section

TITLE = "## CLI start"
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PHALA_AGENT = BIN / "phala-agent"
HEAVY = (
    "substrateinterface",
    "openai",
    "cryptography",
    "httpx",
    "scalecodec",
    "structlog",
    "rich",
    "uvicorn",
)
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)$")


def _wall_ms(argv: list[str], env: dict[str, str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples)


def _import_profile(env: dict[str, str], runs: int) -> tuple[float, int, list[str]]:
    """Median cumulative import time (ms) of ``phala_agents.cli._app``, module count, heavy ones."""
    totals: list[float] = []
    modules: list[str] = []
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import phala_agents.cli._app"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        modules = []
        total = 0
        for line in proc.stderr.splitlines():
            match = _IMPORT_LINE.match(line)
            if match is None:
                continue
            modules.append(match.group(4))
            if match.group(4) == "phala_agents.cli._app":
                total = int(match.group(2))
        totals.append(total / 1e3)
    heavy = sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})
    return statistics.median(totals), len(modules), heavy


def _env(pythonpath: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONPROFILEIMPORTTIME")}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def _measure(env: dict[str, str], runs: int) -> dict[str, object]:
    entry = [sys.executable, "-c", "from phala_agents.cli import main; main()"]
    import_ms, count, heavy = _import_profile(env, runs)
    return {
        "version": _wall_ms([*entry, "--version"], env, runs),
        "help": _wall_ms([*entry, "--help"], env, runs),
        "node_help": _wall_ms([*entry, "node", "--help"], env, runs),
        "import_ms": import_ms,
        "modules": count,
        "heavy": ", ".join(heavy) or "none",
    }


def _extract(rev: str, into: Path) -> Path:
    archive = into / "src.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True, stdout=fh)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--baseline", help="also measure the src/ of this git revision")
    args = parser.parse_args()

    current = _measure(_env(None), args.runs)
    # The console script itself (its shebang wrapper) for --version, to show nothing hides there.
    script_version = _wall_ms([str(PHALA_AGENT), "--version"], _env(None), args.runs)
    floor = _wall_ms([sys.executable, "-c", "pass"], _env(None), args.runs)
    substrate = _wall_ms([sys.executable, "-c", "import substrateinterface"], _env(None), args.runs)

    columns = [("now", current)]
    tmp = None
    if args.baseline:
        tmp = Path(tempfile.mkdtemp(prefix="bench-cli-"))
        try:
            columns.insert(
                0, (f"before ({args.baseline})", _measure(_env(_extract(args.baseline, tmp)), args.runs))
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    head = "| | " + " | ".join(name for name, _ in columns) + " |"
    rule = "| --- |" + " --- |" * len(columns)
    rows = [
        ("`phala-agent --version` (ms, median)", "version", "{:.0f}"),
        ("`phala-agent --help` (ms, median)", "help", "{:.0f}"),
        ("`phala-agent node --help` (ms, median)", "node_help", "{:.0f}"),
        ("import `phala_agents.cli._app` (ms, `-X importtime`)", "import_ms", "{:.0f}"),
        ("modules imported by the root app", "modules", "{}"),
        ("heavy packages among them", "heavy", "{}"),
    ]
    lines = [head, rule]
    for label, key, fmt in rows:
        lines.append(f"| {label} | " + " | ".join(fmt.format(m[key]) for _, m in columns) + " |")
    section = "\n".join(
        [
            TITLE,
            "",
            f"`bench/bench_cli.py --runs {args.runs}`"
            + (f" `--baseline {args.baseline}`" if args.baseline else "")
            + ": the venv's interpreter running `phala_agents.cli.main` (what the `phala-agent` "
            "script does), median of the runs. The root app and `--help` import only typer and our "
            "small modules; each command imports what it needs when it runs.",
            "",
            *lines,
            "",
            f"Same run: `phala-agent --version` through the console script {script_version:.0f} ms; "
            f"peers `python -c pass` {floor:.0f} ms, `python -c 'import substrateinterface'` "
            f"{substrate:.0f} ms.",
            "",
            "`CMD --help` and every command also pay for typer 0.29's parameter conversion, which "
            "imports pydantic when the first parameter is parsed (`typer._adapters`, about 100 ms "
            "here); that is typer's, not ours, and the same before and after.",
        ]
    )
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
