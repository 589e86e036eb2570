"""Benchmark the dev node against its peer (chopsticks: Substrate's own runtime in wasm).

    .venv/bin/python bench/bench_node.py            # print the table
    .venv/bin/python bench/bench_node.py --write    # also update "Dev node" in docs/benchmarks.md

What is measured (the node runs as `phala-agent node --dev --tmp` in its own process):
- sustained signed transfers/s: 10,000 transfers pre-signed by 5 dev accounts (sr25519 bindings
  directly, immortal, explicit nonces) to 10,000 fresh accounts, pipelined over one WebSocket;
  rate = included transfers / (last including block seen - first send);
- submit-to-inBlock latency with instant seal: sequential author_submitAndWatchExtrinsic of
  pre-signed transfers, p50/p99 (and the same against chopsticks in Instant mode);
- query_map over the 10,000+ accounts (substrate-interface, page_size 1000), wall time;
- node start to first RPC answer (spawn -> system_health answered), and the same for chopsticks.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sr25519
from substrateinterface import Keypair, SubstrateInterface
from websockets.sync.client import connect

from _report import write_section
from phala_agents.scale import encode_compact

REPO = Path(__file__).resolve().parent.parent
PHALA_AGENT = REPO / ".venv" / "bin" / "phala-agent"
SENDERS = ("Alice", "Bob", "Charlie", "Dave", "Eve")
sys.path.insert(0, str(REPO / "tests" / "conformance"))


# --- processes -------------------------------------------------------------------------------------


@contextmanager
def dev_node() -> Iterator[tuple[str, float]]:
    """Start `phala-agent node --dev --tmp` on a free port; yield (ws url, seconds to first answer)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(PHALA_AGENT), "node", "--dev", "--tmp", "--rpc-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("ws://"):
            raise RuntimeError(f"the node did not start: {url!r}")
        http = url.replace("ws://", "http://")
        while True:
            try:
                httpx.post(
                    http, json={"jsonrpc": "2.0", "id": 1, "method": "system_health"}
                ).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.005)
        yield url, time.perf_counter() - started
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


@contextmanager
def chopsticks() -> Iterator[tuple[str, float]]:
    from chopsticks_fixture import ensure_spec, run_chopsticks

    ensure_spec()
    started = time.perf_counter()
    with run_chopsticks() as chain:
        http = chain.url.replace("ws://", "http://")
        while True:
            try:
                httpx.post(http, json={"jsonrpc": "2.0", "id": 1, "method": "system_health"}, timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.005)
        yield chain.url, time.perf_counter() - started


# --- signing -----------------------------------------------------------------------------------------


class FastSigner:
    """Builds signed transfer extrinsics with sr25519 directly (layout checked against
    substrate-interface's own signing payload once)."""

    def __init__(self, substrate: SubstrateInterface, call_name: str) -> None:
        substrate.init_runtime()
        self.substrate = substrate
        self.call_name = call_name
        self._template: bytes | None = None
        self._template_value = -1
        idents = list(substrate.metadata.get_signed_extensions())  # a dict keyed by identifier
        self.metadata_hash_ext = "CheckMetadataHash" in idents
        genesis = bytes.fromhex(substrate.get_block_hash(0)[2:])
        version = substrate.runtime_version
        tx_version = substrate.transaction_version
        self.additional = (
            version.to_bytes(4, "little") + tx_version.to_bytes(4, "little") + genesis + genesis
        ) + (b"\x00" if self.metadata_hash_ext else b"")

    def call(self, dest: bytes, value: int) -> bytes:
        """pallet, call index, MultiAddress::Id(dest), compact value: composed once, then spliced."""
        if getattr(self, "_template", None) is None or self._template_value != value:
            composed = self.substrate.compose_call(
                "Balances", self.call_name, {"dest": "0x" + bytes(32).hex(), "value": value}
            )
            self._template = bytes(composed.data.data)
            self._template_value = value
            assert self._template[2:35] == b"\x00" + bytes(32)
        return self._template[:3] + dest + self._template[35:]

    def extra(self, nonce: int) -> bytes:
        return (
            b"\x00" + encode_compact(nonce) + encode_compact(0) + (b"\x00" if self.metadata_hash_ext else b"")
        )

    def check(self, keypair: Keypair) -> None:
        call = self.substrate.compose_call(
            "Balances", self.call_name, {"dest": keypair.ss58_address, "value": 1}
        )
        for nonce in (0, 77):
            theirs = bytes(self.substrate.generate_signature_payload(call, era="00", nonce=nonce, tip=0).data)
            ours = bytes(call.data.data) + self.extra(nonce) + self.additional
            if theirs != ours:
                raise RuntimeError("signing payload layout differs from substrate-interface's")

    def sign(self, keypair: Keypair, nonce: int, call: bytes) -> bytes:
        payload = call + self.extra(nonce) + self.additional
        if len(payload) > 256:
            import hashlib

            payload = hashlib.blake2b(payload, digest_size=32).digest()
        signature = sr25519.sign((keypair.public_key, keypair.private_key), payload)
        body = b"\x84\x00" + keypair.public_key + b"\x01" + signature + self.extra(nonce) + call
        return encode_compact(len(body)) + body


# --- measurements ------------------------------------------------------------------------------------


def latency(url: str, call_name: str, samples: int, dest: str) -> list[float]:
    """Sequential submitAndWatch of pre-signed transfers; seconds from send to inBlock."""
    s = SubstrateInterface(url=url)
    alice = Keypair.create_from_uri("//Alice")
    start_nonce = s.get_account_nonce(alice.ss58_address)
    call = s.compose_call("Balances", call_name, {"dest": dest, "value": 10**12})
    xts = [
        s.create_signed_extrinsic(call=call, keypair=alice, nonce=start_nonce + i).data.to_hex()
        for i in range(samples)
    ]
    s.close()
    out = []
    with connect(url, max_size=None) as ws:
        for i, xt in enumerate(xts):
            t0 = time.perf_counter()
            ws.send(
                json.dumps(
                    {"jsonrpc": "2.0", "id": i, "method": "author_submitAndWatchExtrinsic", "params": [xt]}
                )
            )
            while True:
                msg = json.loads(ws.recv(timeout=60))
                if "error" in msg:
                    raise RuntimeError(f"submit failed: {msg['error']}")
                result = msg.get("params", {}).get("result")
                if isinstance(result, dict) and "inBlock" in result:
                    out.append(time.perf_counter() - t0)
                    break
    return out


def throughput(url: str, count: int) -> dict[str, float]:
    s = SubstrateInterface(url=url)
    signer = FastSigner(s, "transfer_allow_death")
    senders = [Keypair.create_from_uri(f"//{name}") for name in SENDERS]
    signer.check(senders[0])
    ed = int(s.get_constant("Balances", "ExistentialDeposit").value)
    t0 = time.perf_counter()
    per_sender = count // len(senders)
    xts: list[str] = []
    nonces = [s.get_account_nonce(k.ss58_address) for k in senders]
    for i in range(per_sender):
        for k, keypair in enumerate(senders):
            call = signer.call(secrets.token_bytes(32), ed * 10)
            xts.append("0x" + signer.sign(keypair, nonces[k] + i, call).hex())
    sign_s = time.perf_counter() - t0
    http = url.replace("ws://", "http://")
    start_number = int(s.get_block_header()["header"]["number"])
    s.close()

    heads: list[tuple[float, int]] = []
    errors: list[object] = []
    with connect(url, max_size=None) as ws:
        ws.send(
            json.dumps({"jsonrpc": "2.0", "id": "heads", "method": "chain_subscribeNewHeads", "params": []})
        )
        done = threading.Event()

        def send_all() -> None:
            for i, xt in enumerate(xts):
                ws.send(
                    json.dumps(
                        {"jsonrpc": "2.0", "id": i, "method": "author_submitExtrinsic", "params": [xt]}
                    )
                )

        first_send = time.perf_counter()
        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        answered = 0
        idle_deadline = time.perf_counter() + 120
        while not done.is_set() and time.perf_counter() < idle_deadline:
            msg = json.loads(ws.recv(timeout=120))
            if msg.get("method") == "chain_newHead":
                heads.append((time.perf_counter(), int(msg["params"]["result"]["number"], 16)))
            elif isinstance(msg.get("id"), int):
                answered += 1
                if "error" in msg:
                    errors.append(msg["error"])
            if answered == len(xts):
                pending = httpx.post(
                    http, json={"jsonrpc": "2.0", "id": 1, "method": "author_pendingExtrinsics"}
                )
                if not pending.json()["result"]:
                    done.set()
        sender.join()
    included = 0
    last_time = first_send
    by_number = dict((n, t) for t, n in heads)
    with httpx.Client() as client:
        head = int(
            client.post(http, json={"jsonrpc": "2.0", "id": 1, "method": "chain_getHeader"}).json()["result"][
                "number"
            ],
            16,
        )
        for number in range(start_number + 1, head + 1):
            block_hash = client.post(
                http, json={"jsonrpc": "2.0", "id": 1, "method": "chain_getBlockHash", "params": [number]}
            ).json()["result"]
            block = client.post(
                http, json={"jsonrpc": "2.0", "id": 1, "method": "chain_getBlock", "params": [block_hash]}
            ).json()["result"]
            signed = sum(1 for x in block["block"]["extrinsics"] if _is_signed(x))
            if signed:
                included += signed
                last_time = by_number.get(number, last_time)
    return {
        "presign_s": sign_s,
        "included": included,
        "errors": len(errors),
        "blocks": head - start_number,
        "rate": included / (last_time - first_send) if last_time > first_send else 0.0,
    }


def _is_signed(xt_hex: str) -> bool:
    data = bytes.fromhex(xt_hex[2:])
    first = data[0] & 3
    offset = {0: 1, 1: 2, 2: 4}.get(first, 1 + (data[0] >> 2) + 4)
    return bool(data[offset] & 0x80)


def query_map_time(url: str) -> tuple[float, int]:
    s = SubstrateInterface(url=url)
    s.init_runtime()
    t0 = time.perf_counter()
    n = sum(1 for _ in s.query_map("System", "Account", page_size=1000))
    elapsed = time.perf_counter() - t0
    s.close()
    return elapsed, n


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {}
    starts = []
    for _ in range(args.starts):
        with dev_node() as (_url, started):
            starts.append(started)
    res["start_s"] = statistics.median(starts)
    bob = Keypair.create_from_uri("//Bob").ss58_address
    with dev_node() as (url, _):
        lat = latency(url, "transfer_keep_alive", args.latency_samples, bob)
        res["lat_p50_ms"] = _pct(lat, 0.5) * 1000
        res["lat_p99_ms"] = _pct(lat, 0.99) * 1000
    runs = []
    for i in range(args.tp_runs):
        with dev_node() as (url, _):
            runs.append(throughput(url, args.transfers))
            if i == args.tp_runs - 1:
                res["qmap_s"], res["qmap_n"] = query_map_time(url)
    best = sorted(runs, key=lambda r: r["rate"])[len(runs) // 2]  # the median run
    res.update({f"tp_{k}": v for k, v in best.items()})
    res["tp_rates"] = [round(r["rate"]) for r in runs]
    if not args.no_peer:
        try:
            peer_starts = []
            for _ in range(args.peer_starts):
                with chopsticks() as (_url, started):
                    peer_starts.append(started)
            res["peer_start_s"] = statistics.median(peer_starts)
            with chopsticks() as (url, _):
                lat = latency(url, "transfer", args.peer_latency_samples, bob)
                res["peer_lat_p50_ms"] = _pct(lat, 0.5) * 1000
                res["peer_lat_p99_ms"] = _pct(lat, 0.99) * 1000
        except Exception as exc:  # the peer is optional: report why it is missing
            res["peer_error"] = f"{type(exc).__name__}: {exc}"
    return res


def markdown(res: dict[str, Any]) -> str:
    def ratio(ours: str, peer: str) -> str:
        return f"{res[peer] / res[ours]:.1f}x faster" if peer in res and res.get(ours) else "n/a"

    peer = "chopsticks 1.5.1 (Rococo Asset Hub wasm, Instant mode)"
    rows = [
        (
            "Sustained signed transfers/s (10,000 pre-signed, 5 senders, one WS connection)",
            f"{res['tp_rate']:,.0f}/s ({res['tp_included']:,} included in {res['tp_blocks']} blocks, "
            f"{res['tp_errors']} rejected; runs: {', '.join(f'{r:,}' for r in res['tp_rates'])}/s)",
            "-",
            "target >= 1,000/s",
        ),
        (
            "Submit-to-inBlock latency p50 (instant seal)",
            f"{res['lat_p50_ms']:.1f} ms",
            f"{res['peer_lat_p50_ms']:.1f} ms" if "peer_lat_p50_ms" in res else "n/a",
            ratio("lat_p50_ms", "peer_lat_p50_ms"),
        ),
        (
            "Submit-to-inBlock latency p99",
            f"{res['lat_p99_ms']:.1f} ms",
            f"{res['peer_lat_p99_ms']:.1f} ms" if "peer_lat_p99_ms" in res else "n/a",
            ratio("lat_p99_ms", "peer_lat_p99_ms"),
        ),
        (
            f"query_map System.Account over {res['qmap_n']:,} accounts (substrate-interface, page 1000)",
            f"{res['qmap_s']:.2f} s",
            "-",
            "-",
        ),
        (
            "Node start to first RPC answer",
            f"{res['start_s'] * 1000:.0f} ms",
            f"{res['peer_start_s'] * 1000:.0f} ms" if "peer_start_s" in res else "n/a",
            ratio("start_s", "peer_start_s"),
        ),
    ]
    lines = [
        "## Dev node",
        "",
        "`bench/bench_node.py`: `phala-agent node --dev --tmp` in its own process, clients in another; "
        f"peer: {peer}, same client code. Medians of the runs; pre-signing 10,000 transfers with the "
        f"sr25519 bindings took {res['tp_presign_s']:.1f} s (not counted).",
        "",
        "| Measure | dev node | chopsticks | ratio / target |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
    ]
    if "peer_error" in res:
        lines.append(f"\nPeer not measured: {res['peer_error']}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help="replace the Dev node section of docs/benchmarks.md"
    )
    parser.add_argument("--transfers", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--tp-runs", type=int, default=3, help="throughput runs (fresh node each); median")
    parser.add_argument("--peer-starts", type=int, default=3)
    parser.add_argument("--peer-latency-samples", type=int, default=30)
    parser.add_argument("--no-peer", action="store_true", help="skip chopsticks")
    args = parser.parse_args()
    res = run(args)
    print(json.dumps(res, indent=2), file=sys.stderr)
    section = markdown(res)
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
