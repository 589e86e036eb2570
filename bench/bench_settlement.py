"""Settlement cost per receipt on chain: declared weight, fee and runtime wall time of
``Billing.settle`` at batch sizes 1, 100 and 1,000 (and a replayed 1,000-batch).

.venv/bin/python bench/bench_settlement.py            # print the table
.venv/bin/python bench/bench_settlement.py --write    # also replace "## Settlement" in docs/benchmarks.md

The dev runtime runs in this process (what the node calls for each extrinsic): a block registers
an agent and funds 100 callers' escrow, then each settle extrinsic, signed by the worker, is
applied in a block of its own. Receipts are signed offline with the worker helpers (not timed).
"""

from __future__ import annotations

import argparse
import bisect
import os
import statistics
import time

import sr25519

from _report import write_section
from phala_agents.chain import BlockContext, DevRuntime, StorageOverlay
from phala_agents.chain.frame import Call
from phala_agents.chain.pallets.billing import BillingWeights
from phala_agents.scale import blake2_256
from phala_agents.worker.authorization import Receipt, ReceiptUsage, sign_authorization

TITLE = "## Settlement"
UNIT = 10**12
CALLERS = 100
BATCHES = ((1, 200), (100, 10), (1000, 3))  # (batch size, runs)


class DictState:
    def __init__(self, data: dict[bytes, bytes]) -> None:
        self.data = data
        self.keys = sorted(data)

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def next_key(self, key: bytes) -> bytes | None:
        i = bisect.bisect_right(self.keys, key)
        return self.keys[i] if i < len(self.keys) else None


class Pair:
    """An sr25519 key with the ``Sr25519Signer`` shape."""

    def __init__(self, seed: int) -> None:
        self.public_key, self._secret = sr25519.pair_from_seed(seed.to_bytes(32, "little"))

    def sign(self, data: bytes) -> bytes:
        return bytes(sr25519.sign((self.public_key, self._secret), data))


class Chain:
    def __init__(self) -> None:
        self.worker, self.owner = Pair(1), Pair(2)
        self.callers = [Pair(100 + i) for i in range(CALLERS)]
        accounts = [self.worker, self.owner, *self.callers]
        self.rt = DevRuntime(
            genesis_config={
                "Balances": {"balances": [(p.public_key, 10**18) for p in accounts]},
                "Sudo": {"key": self.owner.public_key},
                **{k: v for k, v in _dev_genesis().items() if k not in ("Balances", "Sudo")},
            }
        )
        self.state = self.rt.genesis_storage()
        self.number = 0
        self.parent = blake2_256(b"bench settlement genesis")
        self.genesis_hash = self.parent
        self.nonces: dict[bytes, int] = {}

    def xt(self, signer: Pair, call: Call) -> bytes:
        rt = self.rt
        nonce = self.nonces.get(signer.public_key, 0)
        self.nonces[signer.public_key] = nonce + 1
        extra = rt.extra_bytes(nonce=nonce)
        payload = rt.signing_payload(rt.call_codec.encode(call), extra, self.genesis_hash, self.genesis_hash)
        sig = signer.sign(payload)
        return rt.encode_signed(call, signer=signer.public_key, signature=("Sr25519", sig), nonce=nonce)

    def block(self, xts: list[bytes]) -> list[tuple[float, float, object]]:
        """Apply ``xts`` in a new block; returns (wall seconds, CPU seconds, outcome) per extrinsic."""
        rt = self.rt
        self.number += 1
        overlay = StorageOverlay(DictState(self.state))
        ctx = BlockContext(
            number=self.number, parent_hash=self.parent, timestamp_ms=1_700_000_000_000 + self.number * 6000
        )
        rt.initialize_block(overlay, ctx)
        for inherent in rt.inherent_extrinsics(overlay, ctx):
            rt.apply_extrinsic(overlay, inherent)
        out = []
        for xt in xts:
            t, c = time.perf_counter(), time.process_time()
            outcome = rt.apply_extrinsic(overlay, xt)
            out.append((time.perf_counter() - t, time.process_time() - c, outcome))
            assert outcome.ok, outcome
        rt.finalize_block(overlay)
        for k, v in overlay.changes().items():
            if v is None:
                self.state.pop(k, None)
            else:
                self.state[k] = v
        if self.number == 1:
            # BlockHash(0) now holds the real genesis hash: what authorizations must name.
            self.genesis_hash = self.parent
        self.parent = blake2_256(self.parent + self.number.to_bytes(4, "little"))
        return out


def _dev_genesis() -> dict[str, object]:
    from phala_agents.chain.runtime import dev_genesis_config

    return dict(dev_genesis_config())


def setup() -> Chain:
    chain = Chain()
    register = Call(
        pallet="AgentRegistry",
        name="register",
        args={
            "expected_id": 0,
            "name": b"bench",
            "description": b"",
            "model": b"smollm2",
            "prompt": {"epoch": 0, "enc": bytes(32), "ciphertext": bytes(40)},
            "prompt_commitment": bytes(32),
            "prices": {"per_1k_input": 10**9, "per_1k_output": 2 * 10**9, "per_mgas_code": 0},
            "defaults": {"temperature_milli": 700, "max_tokens": 256},
            "access": ("Public", None),
            "allow": [],
            "tools": [],
            "code_hash": None,
        },
    )
    xts = [chain.xt(chain.owner, register)]
    xts += [
        chain.xt(c, Call(pallet="Billing", name="deposit", args={"amount": 1000 * UNIT}))
        for c in chain.callers
    ]
    chain.block(xts)
    return chain


def receipts(chain: Chain, count: int, nonce_base: int) -> list[dict[str, object]]:
    out = []
    for i in range(count):
        caller = chain.callers[i % CALLERS]
        signed = sign_authorization(
            caller,
            genesis=chain.genesis_hash,
            agent_id=0,
            agent_version=1,
            worker=chain.worker.public_key,
            nonce=nonce_base + i,
            max_charge=UNIT,
            expires_at_block=10_000,
            request_hash=blake2_256(i.to_bytes(8, "little")),
        )
        r = Receipt.of(
            signed,
            usage=ReceiptUsage(input_tokens=420, output_tokens=180),
            charge=UNIT // 1000,
            response_hash=bytes(32),
        )
        out.append(r.to_value())
    return out


def run() -> list[Row]:
    chain = setup()
    rows = []
    nonce = 0
    last_batch: list[dict[str, object]] = []
    for size, runs in BATCHES:
        per_receipt_us, cpu_us, weight, fee, length = [], [], 0, 0, 0
        for _ in range(runs):
            batch = receipts(chain, size, nonce)
            nonce += size
            xt = chain.xt(chain.worker, Call(pallet="Billing", name="settle", args={"receipts": batch}))
            ((seconds, cpu, outcome),) = chain.block([xt])
            per_receipt_us.append(seconds * 1e6 / size)
            cpu_us.append(cpu * 1e6 / size)
            weight, fee, length = outcome.weight, outcome.fee, len(xt)  # type: ignore[attr-defined]
            last_batch = batch
        name = f"{size:,} receipt{'s' if size > 1 else ''}"
        rows.append(_row(name, size, per_receipt_us, cpu_us, weight, fee, length))
    # The same 1,000 again: every receipt is AlreadySettled (a worker's retry after a crash).
    xt = chain.xt(chain.worker, Call(pallet="Billing", name="settle", args={"receipts": last_batch}))
    ((seconds, cpu, outcome),) = chain.block([xt])
    rows.append(
        _row(
            "1,000 replayed (AlreadySettled)",
            1000,
            [seconds * 1e6 / 1000],
            [cpu * 1e6 / 1000],
            outcome.weight,  # type: ignore[attr-defined]
            outcome.fee,  # type: ignore[attr-defined]
            len(xt),
        )
    )
    return rows


Row = tuple[str, str, str, str, str, str, str]


def _row(name: str, size: int, us: list[float], cpu: list[float], weight: int, fee: int, length: int) -> Row:
    med = statistics.median(us)
    return (
        name,
        f"{med:,.0f} µs ({min(us):,.0f}–{max(us):,.0f})",
        f"{statistics.median(cpu):,.0f} µs",
        f"{weight // size / 1e6:,.0f} µs",
        f"{fee // size / UNIT:.6f} UNIT",
        f"{length // size:,} B",
        f"{med * size / 1e3:,.1f} ms",
    )


def markdown(rows: list[Row]) -> str:
    load = os.getloadavg()[0]
    per = BillingWeights.settle_per_receipt.ref_time / 1e6
    lines = [
        TITLE,
        "",
        "`bench/bench_settlement.py`: `Billing.settle` applied by the dev runtime in this process (the",
        "node's per-extrinsic work, without RPC), each batch in a block of its own; receipts from 100",
        "callers, signed offline (not timed). Per receipt: runtime wall time (median of runs, min–max),",
        "declared weight (ref_time as µs), fee (length fee 1 µUNIT/byte + weight fee + base, shared by",
        f"the batch), encoded length. Declared weight: 20 µs + {per:,.0f} µs per receipt.",
        f"Load average at the run: {load:.1f} on 2 cores.",
        "",
        "| Batch | Wall per receipt | CPU per receipt | Weight per receipt (actual) "
        "| Fee per receipt | Bytes per receipt | Wall per batch |",
        "|---|---|---|---|---|---|---|",
        *(f"| {' | '.join(r)} |" for r in rows),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help="replace the Settlement section of docs/benchmarks.md"
    )
    args, _ = parser.parse_known_args()  # run_all.py may pass other flags
    section = markdown(run())
    print(section)
    if args.write:
        write_section(section)


if __name__ == "__main__":
    main()
