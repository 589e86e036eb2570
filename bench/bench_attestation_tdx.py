"""Benchmark DCAP quote verification (TDX v4, SGX v3) with collateral, against dcap-qvl 0.7.0 in the same run.

    .venv/bin/python bench/bench_attestation_tdx.py            # print the table
    .venv/bin/python bench/bench_attestation_tdx.py --write    # also replace the "Attestation (TDX)" section

Medians of per-call ``perf_counter_ns`` (p10-p90 in brackets), after warm-up, on the real vectors
(tests/data/tdx, tests/data/sgx) at their documented times.

* cold: ``VerifyOptions(cache=None)`` and a fresh ``Collateral`` object per call (loaded before the
  timed region, like dcap-qvl's pre-loaded ``QuoteCollateralV3``): every signature, chain, CRL, validity
  window and TCB decision is computed; only *parsed* certificates, CRLs and TCB Info / QE Identity
  documents come from the content-keyed ``ParseCache`` (no verdicts). "+ load" adds the JSON load.
* first sight: ``cache=None, parse_cache=None``: nothing known at all, everything parsed too (dcap-qvl
  parses its certificates, CRLs and JSON inside ``verify`` on every call, so this is the strictest
  comparison).
* new platform: verified collateral cached, PCK chain not (a quote from a machine not seen before).
* warm: shared ``VerificationCache``: collateral and PCK chain found by fingerprint, the quote itself
  (QE report signature, QE binding, QE identity, quote signature, TCB level) checked on every call.
Targets (issue 4): cold <= dcap-qvl, warm >= 3x faster than dcap-qvl.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dcap_qvl

from _report import format_us, time_call_us, write_section
from phala_agents.attestation.tdx import (
    VerificationCache,
    VerifyOptions,
    load_collateral,
    verify_quote,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SECTION = "Attestation (TDX)"
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
        first_opts = VerifyOptions(now=now, cache=None, parse_cache=None)
        # A fresh collateral object per call (equal content, new bytes objects): nothing can ride on
        # per-object state such as a cached bytes hash. Built before the timed region.
        fresh = iter([load_collateral(text) for _ in range(2 * (n + 50))])
        warm_opts = VerifyOptions(now=now, cache=VerificationCache())
        newp_opts = VerifyOptions(now=now, cache=_CollateralOnlyCache())
        # Interleave the measurements so machine noise hits both verifiers alike.
        row: dict[str, object] = {"label": label}
        calls: list[tuple[str, Callable[[], object]]] = [
            ("dcap", lambda r=raw, c=dcoll, t=now: dcap_qvl.verify(r, c, t)),
            ("cold", lambda r=raw, f=fresh, o=cold_opts: verify_quote(r, next(f), o)),
            ("first", lambda r=raw, f=fresh, o=first_opts: verify_quote(r, next(f), o)),
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
            row[name] = time_call_us(fn, n)
        rows.append(row)
    return rows


def combine(runs: list[list[dict[str, object]]]) -> list[dict[str, object]]:
    """Per cell, the median over runs of each of (median, p10, p90)."""
    out = []
    for i, first in enumerate(runs[0]):
        row: dict[str, object] = {"label": first["label"]}
        for key in first:
            if key == "label":
                continue
            cells = [r[i][key] for r in runs]
            row[key] = tuple(statistics.median(c[j] for c in cells) for j in range(3))  # type: ignore[index]
        out.append(row)
    return out


def markdown(rows: list[dict[str, object]], n: int, runs: int = 1, loads: tuple[float, ...] = ()) -> str:
    load_text = ", ".join(f"{x:.1f}" for x in loads)
    lines = [
        f"## {SECTION}",
        "",
        "`bench/bench_attestation_tdx.py`: DCAP quote verification with collateral, median per call "
        f"(p10–p90), n={n} per run, {runs} run(s) (each cell: the median over runs), against dcap-qvl 0.7.0 "
        "in the same runs, real vectors at their documented times. "
        f"1-minute load average at the start of each run: {load_text or 'not recorded'} (2 cores, shared). "
        "cold: no verification cache and a fresh collateral object per call, every signature/chain/CRL/"
        "window/TCB check computed, parsed certificates/CRLs/JSON from the content-keyed `ParseCache`; "
        "first sight: no cache of any kind, everything parsed too; new platform: collateral cached, PCK "
        "chain not; warm: collateral and chain found by fingerprint, the quote itself fully checked.",
        "",
        "| vector | dcap-qvl `verify` | ours cold | ours first sight | dcap-qvl `from_json`+`verify` "
        "| ours `load_collateral`+cold | ours new platform | ours warm | cold / dcap | first sight / dcap "
        "| dcap / warm |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        dcap = min(r["dcap"][0], r["dcap2"][0])  # type: ignore[index]
        cold = r["cold"][0]  # type: ignore[index]
        first = r["first"][0]  # type: ignore[index]
        warm = r["warm"][0]  # type: ignore[index]
        lines.append(
            f"| {r['label']} | {format_us(r['dcap'])} | {format_us(r['cold'])} | {format_us(r['first'])} | "  # type: ignore[arg-type]
            f"{format_us(r['dcap_json'])} | {format_us(r['cold_json'])} | {format_us(r['newp'])} | "  # type: ignore[arg-type]
            f"{format_us(r['warm'])} | {cold / dcap:.2f}x | {first / dcap:.2f}x | {dcap / warm:.1f}x |"  # type: ignore[arg-type]
        )
    lines += [
        "",
        "Targets (issue 4): cold ≤ dcap-qvl (1.00x) and warm ≥ 3x faster. A cold verification is 7 ECDSA "
        "P-256 verifications in `cryptography` (OpenSSL; ~65 µs each on this machine, so ~460 µs of the "
        "total, against ring's faster P-256 inside dcap-qvl): the Root CA CRL, TCB Info, QE Identity, the "
        "PCK leaf, the PCK CRL, the QE report and the quote. Two more (the PCK CA and TCB Signing "
        "certificates under the Intel root) are skipped for pinned, pre-verified Intel certificates. The "
        "rest of cold is per-quote Python (quote parse, QE binding, TCB level, windows, revocation "
        "look-ups). First sight adds the parsing that the `ParseCache` spares: two PEM chains, two CRLs, "
        "the TCB Info and QE Identity JSON and the PCK SGX extension (about 250 µs of Python and "
        "first-use key set-up); it does not meet the cold target, and it happens once per distinct "
        "collateral / PCK chain in a running verifier. The warm path is 2 verifications (QE report, quote).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help=f"replace the {SECTION} section of docs/benchmarks.md"
    )
    parser.add_argument("-n", type=int, default=1000, help="calls per measurement")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole measurement; report medians")
    args = parser.parse_args()
    results = []
    loads = []
    for _ in range(args.runs):
        loads.append(os.getloadavg()[0])
        results.append(run(args.n))
    section = markdown(combine(results), args.n, args.runs, tuple(loads))
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
