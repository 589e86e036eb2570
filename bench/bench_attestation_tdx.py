"""Benchmark DCAP quote verification (TDX v4, SGX v3) with collateral, against dcap-qvl 0.7.0 in the same run.

    .venv/bin/python bench/bench_attestation_tdx.py            # print the table
    .venv/bin/python bench/bench_attestation_tdx.py --write    # also replace the "Attestation (TDX)" section

Medians of per-call ``perf_counter_ns`` (p10-p90 in brackets), after warm-up, on the real vectors
(tests/data/tdx, tests/data/sgx) at their documented times.

* cold: ``VerifyOptions(cache=None)``: every signature, chain, CRL and JSON document checked and parsed
  (collateral pre-loaded, like dcap-qvl's pre-parsed ``QuoteCollateralV3``); "+ load" adds the JSON load.
* new platform: verified collateral cached, PCK chain not (a quote from a machine not seen before).
* warm: shared ``VerificationCache``: collateral and PCK chain found by fingerprint, the quote itself
  (QE report signature, QE binding, QE identity, quote signature, TCB level) checked on every call.
Targets (issue 4): cold <= dcap-qvl, warm >= 3x faster than dcap-qvl.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dcap_qvl

from phala_agents.attestation.tdx import (
    VerificationCache,
    VerifyOptions,
    load_collateral,
    verify_quote,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "Attestation (TDX)"
HEADER = "# Benchmarks\n"
VECTORS = [
    ("tdx/tdx_v4_uptodate", 1752919234, "TDX v4 (UpToDate)"),
    ("sgx/sgx_v3_cswhn", 1752919277, "SGX v3 (CASWHN)"),
]
V = TypeVar("V")


class _CollateralOnlyCache(VerificationCache):
    """Keeps verified collateral but never a PCK chain: every call sees a "new platform"."""

    def get_or_build(self, key: bytes, build: Callable[[], V]) -> V:
        if key.startswith(b"P"):
            return build()
        return super().get_or_build(key, build)


def _stats(fn: Callable[[], object], n: int, warmup: int = 50) -> tuple[float, float, float]:
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


def _fmt(stat: tuple[float, float, float]) -> str:
    med, p10, p90 = stat
    return f"{med:,.0f} µs ({p10:,.0f}–{p90:,.0f})"


def run(n: int) -> list[dict[str, object]]:
    rows = []
    for stem, now, label in VECTORS:
        raw = (DATA / f"{stem}.quote.bin").read_bytes()
        text = (DATA / f"{stem}.collateral.json").read_text()
        coll = load_collateral(text)
        dcoll = dcap_qvl.QuoteCollateralV3.from_json(text)
        ours = verify_quote(raw, coll, VerifyOptions(now=now, cache=None))
        theirs = dcap_qvl.verify(raw, dcoll, now)
        assert str(ours.status) == theirs.status and list(ours.advisory_ids) == list(theirs.advisory_ids)
        cold_opts = VerifyOptions(now=now, cache=None)
        warm_opts = VerifyOptions(now=now, cache=VerificationCache())
        newp_opts = VerifyOptions(now=now, cache=_CollateralOnlyCache())
        # Interleave the measurements so machine noise hits both verifiers alike.
        row: dict[str, object] = {"label": label}
        calls: list[tuple[str, Callable[[], object]]] = [
            ("dcap", lambda r=raw, c=dcoll, t=now: dcap_qvl.verify(r, c, t)),
            ("cold", lambda r=raw, c=coll, o=cold_opts: verify_quote(r, c, o)),
            (
                "dcap_json",
                lambda r=raw, j=text, t=now: dcap_qvl.verify(r, dcap_qvl.QuoteCollateralV3.from_json(j), t),
            ),
            ("cold_json", lambda r=raw, j=text, o=cold_opts: verify_quote(r, load_collateral(j), o)),
            ("newp", lambda r=raw, c=coll, o=newp_opts: verify_quote(r, c, o)),
            ("warm", lambda r=raw, c=coll, o=warm_opts: verify_quote(r, c, o)),
            ("dcap2", lambda r=raw, c=dcoll, t=now: dcap_qvl.verify(r, c, t)),
        ]
        for name, fn in calls:
            row[name] = _stats(fn, n)
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, object]], n: int) -> str:
    lines = [
        f"## {SECTION}",
        "",
        "`bench/bench_attestation_tdx.py`: DCAP quote verification with collateral, median per call "
        f"(p10–p90), n={n}, against dcap-qvl 0.7.0 in the same run, real vectors at their documented times. "
        "cold: no cache, every signature/chain/CRL/JSON checked; new platform: collateral cached, PCK chain "
        "not; warm: collateral and chain found by fingerprint, the quote itself fully checked.",
        "",
        "| vector | dcap-qvl `verify` | ours cold | dcap-qvl `from_json`+`verify` "
        "| ours `load_collateral`+cold | ours new platform | ours warm | cold / dcap | dcap / warm |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        dcap = min(r["dcap"][0], r["dcap2"][0])  # type: ignore[index]
        cold = r["cold"][0]  # type: ignore[index]
        warm = r["warm"][0]  # type: ignore[index]
        lines.append(
            f"| {r['label']} | {_fmt(r['dcap'])} | {_fmt(r['cold'])} | {_fmt(r['dcap_json'])} | "  # type: ignore[arg-type]
            f"{_fmt(r['cold_json'])} | {_fmt(r['newp'])} | {_fmt(r['warm'])} | "  # type: ignore[arg-type]
            f"{cold / dcap:.2f}x | {dcap / warm:.1f}x |"
        )
    lines += [
        "",
        "Targets: cold ≤ dcap-qvl (1.00x) and warm ≥ 3x faster. A cold verification is 7 ECDSA P-256 "
        "verifications in `cryptography` (OpenSSL; ~65 µs each on this machine, about 1.5x ring's cost in "
        "dcap-qvl) plus Python parsing of the TCB Info JSON, the PCK extension and three PEM chains; "
        "two more signatures (the PCK CA and TCB Signing certificates under the Intel root) are skipped "
        "for pinned, pre-verified Intel certificates. The warm path is 2 verifications (QE report, quote).",
        "",
    ]
    return "\n".join(lines)


def write(section: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else HEADER
    start = text.find(f"\n## {SECTION}\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        rest = text[end + 1 :] if end != -1 else ""
        text = text[: start + 1] + section.rstrip("\n") + ("\n\n" + rest if rest else "\n")
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help=f"replace the {SECTION} section of docs/benchmarks.md"
    )
    parser.add_argument("-n", type=int, default=1000, help="calls per measurement")
    args = parser.parse_args()
    section = markdown(run(args.n), args.n)
    print(section)
    if args.write:
        write(section)


if __name__ == "__main__":
    main()
