"""Benchmark ChainClient against chopsticks (Rococo Asset Hub wasm, Instant mode) and the dev node.

    .venv/bin/python bench/bench_client.py            # print the table
    .venv/bin/python bench/bench_client.py --write    # also replace "Client" in docs/benchmarks.md

What is measured, per backend, medians (p95) of N sequential runs on one connection:
- ChainClient.connect (websocket + runtime + metadata + hash);
- a typed read (System.Account at best), and the nonce lookup (system_accountNextIndex);
- sign (compose + nonce + sr25519), submit-to-inBlock through our watcher, and the whole
  ChainClient.transfer (sign + watch + block + events + fee);
- substrate-interface's own submit_extrinsic(wait_for_inclusion=True) + is_success for contrast;
- how late SubmissionTimeout fires for timeout=0.5 s when no block is built (chopsticks Manual mode).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from substrateinterface import Keypair

from phala_agents.client import ChainClient
from phala_agents.errors import SubmissionTimeout

REPO = Path(__file__).resolve().parent.parent
PHALA_AGENT = REPO / ".venv" / "bin" / "phala-agent"
sys.path.insert(0, str(REPO / "tests" / "conformance"))

from chopsticks_fixture import free_port, run_chopsticks  # noqa: E402

from _report import write_section  # noqa: E402

N = 20


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:.1f} ms ({p95 * 1000:.1f})"


def _time(fn: Callable[[], object], n: int = N) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


@contextmanager
def _dev_node() -> Iterator[str | None]:
    help_text = subprocess.run(
        [str(PHALA_AGENT), "node", "--help"], capture_output=True, text=True, check=False
    )
    if "--dev" not in help_text.stdout:
        yield None
        return
    port = free_port()
    proc = subprocess.Popen(
        [str(PHALA_AGENT), "node", "--dev", "--tmp", "--rpc-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"ws://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ChainClient.connect(url, timeout=5).close()
                break
            except Exception:
                time.sleep(0.2)
        yield url if proc.poll() is None else None
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def measure(url: str, *, chopsticks: bool) -> dict[str, str]:
    rows: dict[str, str] = {}
    rows["connect"] = _ms(_time(lambda: ChainClient.connect(url, timeout=30).close(), 5))
    api = ChainClient.connect(url, timeout=30)
    alice = api.keypair("//Alice")
    rows["typed read (System.Account, best)"] = _ms(_time(lambda: api.query.System.Account.get(alice)))
    rows["nonce (system_accountNextIndex)"] = _ms(
        _time(lambda: api.rpc("system_accountNextIndex", [alice.ss58_address]))
    )

    def dest() -> str:
        return str(Keypair.create_from_mnemonic(Keypair.generate_mnemonic()).ss58_address)

    signed = []
    rows["sign (compose + nonce + sr25519)"] = _ms(
        _time(
            lambda: signed.append(api.tx.Balances.transfer_keep_alive(dest=dest(), value=10**12).sign(alice))
        )
    )
    # Submit what was signed, in nonce order, through the watcher only.
    watch = []
    results = []
    for xt in signed:
        started = time.perf_counter()
        results.append(api.submit(xt))
        watch.append(time.perf_counter() - started)
    assert all(r.ok for r in results)
    rows["submit + watch to inBlock + events (ChainClient.submit)"] = _ms(watch)
    rows["ChainClient.transfer, end to end"] = _ms(
        _time(lambda: api.transfer(alice, dest(), 10**12).raise_for_error())
    )

    substrate = api.substrate
    bob = api.keypair("//Bob")

    def plain() -> None:
        call = substrate.compose_call("Balances", "transfer_keep_alive", {"dest": dest(), "value": 10**12})
        receipt = substrate.submit_extrinsic(
            substrate.create_signed_extrinsic(call=call, keypair=bob), wait_for_inclusion=True
        )
        assert receipt.is_success

    rows["substrate-interface submit_extrinsic(wait_for_inclusion) + is_success"] = _ms(_time(plain))
    if chopsticks:
        api.rpc("dev_setBlockBuildMode", ["Manual"])
        late = []
        for _ in range(5):
            xt = api.tx.Balances.transfer_keep_alive(dest=dest(), value=10**12).sign(alice)
            started = time.perf_counter()
            try:
                api.submit(xt, timeout=0.5)
            except SubmissionTimeout:
                late.append(time.perf_counter() - started - 0.5)
        api.rpc("dev_newBlock", [{"count": 1}])
        api.rpc("dev_setBlockBuildMode", ["Instant"])
        rows["SubmissionTimeout(0.5 s) fires after 0.5 s +"] = _ms(late)
    api.close()
    return rows


def markdown(results: dict[str, dict[str, str]]) -> str:
    backends = list(results)
    names = list(next(iter(results.values())))
    lines = [
        "## Client",
        "",
        "`bench/bench_client.py`: `ChainClient` over one websocket, sequential, median (p95) of 20 runs",
        "(5 for connect and the timeout). chopsticks runs Rococo Asset Hub's wasm in Instant mode, so its",
        "numbers are dominated by building a block in wasm per transaction.",
        "",
        "| Operation | " + " | ".join(backends) + " |",
        "|---|" + "---|" * len(backends),
    ]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(results[b].get(name, "n/a") for b in backends) + " |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument(
        "--write", action="store_true", help="replace the Client section of docs/benchmarks.md"
    )
    args = parser.parse_args()
    results: dict[str, dict[str, str]] = {}
    with run_chopsticks() as chain:
        results["chopsticks"] = measure(chain.url, chopsticks=True)
    with _dev_node() as url:
        if url is not None:
            results["dev node"] = measure(url, chopsticks=False)
    section = markdown(results)
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
