"""Runtime micro-benchmark: validate + apply of pre-signed transfers, per extrinsic.

Run: .venv/bin/python bench/bench_runtime.py [count] [--write]. Prints median and p99 microseconds for
``validate_transaction`` and ``apply_extrinsic`` (the pool's and the block builder's runtime
work for one signed transfer) and the throughput one core gets from both.
"""

from __future__ import annotations

import bisect
import os
import statistics
import sys
import time

import sr25519

from _report import write_section
from phala_agents.chain import BlockContext, DevRuntime, StorageOverlay, TransactionSource
from phala_agents.chain.frame import Call
from phala_agents.scale import blake2_256


class DictState:
    def __init__(self, data: dict[bytes, bytes]) -> None:
        self.data = data
        self.keys = sorted(data)

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def next_key(self, key: bytes) -> bytes | None:
        i = bisect.bisect_right(self.keys, key)
        return self.keys[i] if i < len(self.keys) else None


def main(count: int, *, write: bool) -> None:
    genesis_hash = blake2_256(b"bench genesis")
    senders = [sr25519.pair_from_seed(i.to_bytes(32, "little")) for i in range(1, 101)]
    rt = DevRuntime(
        genesis_config={
            "Balances": {"balances": [(pub, 10**18) for pub, _ in senders]},
            "Sudo": {"key": senders[0][0]},
        }
    )
    genesis = rt.genesis_storage()
    xts = []
    t0 = time.perf_counter()
    for n in range(count):
        pub, sec = senders[n % len(senders)]
        nonce = n // len(senders)
        # every transfer endows a fresh account (NewAccount + Endowed), like the node benchmark
        args = {"dest": ("Id", blake2_256(n.to_bytes(8, "little"))), "value": 10**10}
        call = Call(pallet="Balances", name="transfer_keep_alive", args=args)
        cb = rt.call_codec.encode(call)
        extra = rt.extra_bytes(nonce=nonce, tip=0)
        payload = rt.signing_payload(cb, extra, genesis_hash, genesis_hash)
        sig = sr25519.sign((pub, sec), payload)
        xts.append(rt.encode_signed(call, signer=pub, signature=("Sr25519", sig), nonce=nonce))
    print(f"signed {count} transfers in {time.perf_counter() - t0:.2f} s (client side, not measured below)")

    state = DictState(genesis)
    validate_us = []
    for xt in xts[: len(senders)]:  # nonce-0 ones validate as ready against genesis
        t = time.perf_counter()
        rt.validate_transaction(state, xt, TransactionSource.EXTERNAL, genesis_hash)
        validate_us.append((time.perf_counter() - t) * 1e6)
    for xt in xts[len(senders) :]:  # later nonces validate as future (requires tags)
        t = time.perf_counter()
        rt.validate_transaction(state, xt, TransactionSource.EXTERNAL, genesis_hash)
        validate_us.append((time.perf_counter() - t) * 1e6)

    apply_us = []
    parent = genesis_hash
    number = 0
    base: dict[bytes, bytes] = dict(genesis)
    changed = 0
    t_blocks = time.perf_counter()
    block_size = 2000
    for start in range(0, len(xts), block_size):
        number += 1
        overlay = StorageOverlay(DictState(base))
        ctx = BlockContext(number=number, parent_hash=parent, timestamp_ms=1_700_000_000_000 + number * 6000)
        rt.initialize_block(overlay, ctx)
        for inherent in rt.inherent_extrinsics(overlay, ctx):
            rt.apply_extrinsic(overlay, inherent)
        for xt in xts[start : start + block_size]:
            t = time.perf_counter()
            outcome = rt.apply_extrinsic(overlay, xt)
            apply_us.append((time.perf_counter() - t) * 1e6)
            assert outcome.ok, outcome
        rt.finalize_block(overlay)
        changes = overlay.changes()
        changed += len(changes)
        for k, v in changes.items():
            if v is None:
                base.pop(k, None)
            else:
                base[k] = v
        parent = blake2_256(parent + number.to_bytes(4, "little"))
    block_s = time.perf_counter() - t_blocks

    def p(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(len(values) * q))]

    mv, ma = statistics.median(validate_us), statistics.median(apply_us)
    print(f"validate_transaction: median {mv:.0f} us, p99 {p(validate_us, 0.99):.0f} us")
    print(f"apply_extrinsic:      median {ma:.0f} us, p99 {p(apply_us, 0.99):.0f} us")
    rate = 1e6 / (mv + ma)
    print(f"validate + apply:     median {mv + ma:.0f} us per transfer -> {rate:.0f} transfers/s on one core")
    print(f"{number} blocks of <= {block_size} transfers (init + apply + finalize + merge): {block_s:.2f} s")
    if write:
        load = os.getloadavg()[0]
        write_section(
            "## Runtime\n\n"
            f"`bench/bench_runtime.py`: {count:,} pre-signed sr25519 `Balances.transfer_keep_alive` "
            "calls, each "
            "endowing a fresh account, through the Python runtime in this process (no RPC, no trie: the "
            "runtime's share of the node's per-transfer cost). Load average at the run: "
            f"{load:.1f} on 2 cores.\n\n"
            "| Step | Median | p99 |\n| --- | --- | --- |\n"
            f"| `validate_transaction` (pool admission) | {mv:.0f} µs | {p(validate_us, 0.99):.0f} µs |\n"
            f"| `apply_extrinsic` (block building) | {ma:.0f} µs | {p(apply_us, 0.99):.0f} µs |\n"
            f"| validate + apply | {mv + ma:.0f} µs ({rate:,.0f} transfers/s on one core) | - |\n"
            f"| {number} blocks of <= {block_size} transfers, init + apply + finalize + merge | "
            f"{block_s:.2f} s | - |\n"
        )


if __name__ == "__main__":
    numbers = [int(a) for a in sys.argv[1:] if a.isdigit()]  # run_all.py may pass other flags
    main(numbers[0] if numbers else 10_000, write="--write" in sys.argv[1:])
