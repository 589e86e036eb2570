"""@polkadot/types + @polkadot/keyring (npm, unmodified) sign transfers offline from our metadata
(sr25519, ed25519, ecdsa; mortal with a tip and immortal) and the Python runtime verifies and
applies them; polkadot.js decodes the resulting System.Events. No node, no sockets."""

from __future__ import annotations

import bisect
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from phala_agents.chain import (
    DEV_ACCOUNTS,
    SPEC_VERSION,
    TRANSACTION_VERSION,
    BlockContext,
    DevRuntime,
    StorageOverlay,
    TransactionSource,
)
from phala_agents.chain.frame import Call
from phala_agents.chain.runtime import dev_genesis_config
from phala_agents.scale import blake2_256

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "js" / "runtime_sign_offline.js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (REPO / "js" / "node_modules" / "@polkadot" / "types").exists(),
    reason="node or js/node_modules missing",
)


class DictState:
    def __init__(self, data: dict[bytes, bytes]) -> None:
        self.data = data
        self.keys = sorted(data)

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def next_key(self, key: bytes) -> bytes | None:
        i = bisect.bisect_right(self.keys, key)
        return self.keys[i] if i < len(self.keys) else None


def _node(*args: str) -> dict[str, object]:
    done = subprocess.run(
        ["node", str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_polkadot_js_signs_what_the_runtime_accepts(tmp_path: Path) -> None:
    accounts = {k: bytes.fromhex(str(v)[2:]) for k, v in _node("accounts").items()}
    assert accounts["sr25519"] == DEV_ACCOUNTS["Alice"]
    config = dev_genesis_config()
    balances = list(config["Balances"]["balances"])  # type: ignore[arg-type]
    balances += [(accounts["ed25519"], 10**15), (accounts["ecdsa"], 10**15)]
    rt = DevRuntime(genesis_config={**config, "Balances": {"balances": balances}})
    state = rt.genesis_storage()
    genesis_hash = blake2_256(b"offline genesis")

    def block(number: int, parent: bytes, xts: list[bytes]) -> tuple[bytes, list[object]]:
        overlay = StorageOverlay(DictState(state))
        ctx = BlockContext(number=number, parent_hash=parent, timestamp_ms=1_700_000_000_000 + number)
        rt.initialize_block(overlay, ctx)
        for inherent in rt.inherent_extrinsics(overlay, ctx):
            rt.apply_extrinsic(overlay, inherent)
        outcomes = [rt.apply_extrinsic(overlay, xt) for xt in xts]
        rt.finalize_block(overlay)
        for k, v in overlay.changes().items():
            if v is None:
                state.pop(k, None)
            else:
                state[k] = v
        return blake2_256(parent + bytes([number])), outcomes  # type: ignore[return-value]

    block1, _ = block(1, genesis_hash, [])
    md_file = tmp_path / "metadata.hex"
    md_file.write_text("0x" + rt.metadata().hex())
    bob = DEV_ACCOUNTS["Bob"]
    signed = _node(
        "sign",
        str(md_file),
        "0x" + genesis_hash.hex(),
        "0x" + block1.hex(),
        "1",
        str(SPEC_VERSION),
        str(TRANSACTION_VERSION),
        "0x" + bob.hex(),
    )
    assert signed["extensions"][-1] == "CheckMetadataHash"  # type: ignore[index]
    xts = signed["extrinsics"]
    assert isinstance(xts, dict)
    ordered = []
    for kind in ("sr25519", "ed25519", "ecdsa"):
        for era in ("immortal", "mortal"):
            raw = bytes.fromhex(xts[f"{kind}-{era}"][2:])
            valid = rt.validate_transaction(DictState(state), raw, TransactionSource.EXTERNAL, block1)
            assert valid.provides[0][:32] == accounts[kind]
            decoded = rt.decode_extrinsic(raw)
            assert decoded.call == Call(
                pallet="Balances",
                name="transfer_keep_alive",
                args={"dest": ("Id", bob), "value": 10**12},
                pallet_index=2,
                call_index=3,
            )
            ordered.append(raw)
    block2, outcomes = block(2, block1, ordered)
    assert all(getattr(o, "ok", False) for o in outcomes), outcomes
    events_key = bytes.fromhex("26aa394eea5630e07c48ae0c9558cef780d41e5e16056765bc8461851072c9d7")
    events_hex = "0x" + state[events_key].hex()
    decoded_events = _node(
        "sign",
        str(md_file),
        "0x" + genesis_hash.hex(),
        "0x" + block1.hex(),
        "1",
        str(SPEC_VERSION),
        str(TRANSACTION_VERSION),
        "0x" + bob.hex(),
        events_hex,
    )["events"]
    assert isinstance(decoded_events, list)
    assert decoded_events.count("balances.Transfer") == 6
    assert decoded_events.count("system.ExtrinsicSuccess") == 7
    assert decoded_events.count("transactionPayment.TransactionFeePaid") == 6
    del block2
