"""--block-time mode: one block per period, empty or not; transactions wait for the next one."""

from __future__ import annotations

from _stub_runtime import make_tx, stub_backend
from node_rpc_client import WsClient

from phala_agents.node import NodeConfig, NodeThread


def test_fixed_block_time_authors_empty_blocks_and_includes_txs() -> None:
    with NodeThread(NodeConfig(rpc_port=0, block_time_ms=30), stub_backend()) as node:
        ws = WsClient(node.url)
        heads = ws.result("chain_subscribeNewHeads")
        numbers = [int(h["number"], 16) for h in ws.wait_notes(heads, 4)]
        assert numbers == sorted(numbers) and numbers[-1] >= 3
        empty = ws.result("chain_getBlock", [ws.result("chain_getBlockHash", [1])])
        assert len(empty["block"]["extrinsics"]) == 1  # the timestamp inherent only
        sub = ws.result("author_submitAndWatchExtrinsic", ["0x" + make_tx(b"\x09" * 32, 0).hex()])
        notes = ws.wait_notes(sub, 3)
        assert notes[0] == "ready" and "inBlock" in notes[1] and "finalized" in notes[2]
        assert ws.result("chain_getBlockHash", ["0x1"]) == ws.result("chain_getBlockHash", [1])
        resp = ws.call("state_call", ["Nope_nothing", "0x"])
        assert resp["error"]["code"] == 4003
        assert (
            resp["error"]["message"]
            == "Client error: Execution failed: Other: Exported method Nope_nothing is not found"
        )
        ws.close()
