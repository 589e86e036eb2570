"""Unmodified @polkadot/api 16.5.6 + @polkadot/keyring against the dev node (js/node_polkadot.js):
connect, metadata and constants, a signed transfer from //Alice followed to finalized, its
events, and a new-heads subscription."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from phala_agents.node import NodeConfig, NodeThread

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "js" / "node_polkadot.js"
BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"


@pytest.fixture(scope="module")
def node() -> Iterator[NodeThread]:
    if shutil.which("node") is None or not (REPO / "js" / "node_modules" / "@polkadot" / "api").exists():
        pytest.skip("node or js/node_modules is missing: run `make setup`")
    with NodeThread(NodeConfig(rpc_port=0)) as thread:
        yield thread


def test_polkadot_js_transfer_to_finalized(node: NodeThread) -> None:
    proc = subprocess.run(
        ["node", str(SCRIPT), node.url],
        cwd=REPO / "js",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["chain"] == "Development"
    assert out["metadataVersion"] == 14
    pallets = dict(out["pallets"])
    assert {
        "System": 0,
        "Timestamp": 1,
        "Balances": 2,
        "TransactionPayment": 3,
        "Sudo": 4,
    }.items() <= pallets.items()
    assert out["ss58Format"] == 42
    assert int(out["existentialDeposit"]) > 0
    assert int(out["partialFee"]) > 0
    assert out["statuses"][0] == "Ready"
    assert "InBlock" in out["statuses"] and out["statuses"][-1] == "Finalized"
    names = [e["name"] for e in out["events"]]
    assert "balances.Transfer" in names
    assert "transactionPayment.TransactionFeePaid" in names
    assert names[-1] == "system.ExtrinsicSuccess"
    transfer = next(e for e in out["events"] if e["name"] == "balances.Transfer")
    assert transfer["data"][1] == BOB
    assert int(out["bobDelta"]) == 10**12
    assert out["blockExtrinsics"][0] == "timestamp.set"
    assert "balances.transferKeepAlive" in out["blockExtrinsics"]
    assert out["finalizedHead"] in (out["finalizedBlock"],) or out["blockNumber"] >= 1
    assert out["aliceNonce"] == 1
    assert out["accountEntries"] >= 6
    assert out["timestampNow"] > 0
    assert len(out["heads"]) >= 2 and out["heads"] == sorted(out["heads"])
