"""The transaction pool through author_* RPCs (stub runtime): statuses, error codes, ordering."""

from __future__ import annotations

from _stub_runtime import kv_key, make_tx
from node_rpc_client import WsClient

from phala_agents.node import NodeThread

ALICE = bytes([1]) * 32
BOB = bytes([2]) * 32


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def test_submit_and_watch_reports_ready_in_block_finalized(ws: WsClient) -> None:
    heads = ws.result("chain_subscribeNewHeads")
    sub = ws.result("author_submitAndWatchExtrinsic", [_hex(make_tx(ALICE, 0, payload=b"hello"))])
    notes = ws.wait_notes(sub, 3)
    assert notes[0] == "ready"
    assert set(notes[1]) == {"inBlock"} and notes[2] == {"finalized": notes[1]["inBlock"]}
    block_hash = notes[1]["inBlock"]
    block = ws.result("chain_getBlock", [block_hash])
    assert _hex(make_tx(ALICE, 0, payload=b"hello")) in block["block"]["extrinsics"]
    assert ws.result("state_getStorage", [_hex(kv_key(ALICE))]) == _hex(b"hello")
    assert ws.result("chain_getFinalizedHead") == block_hash
    head_notes = ws.wait_notes(heads, 2)
    assert head_notes[-1]["number"] == "0x1"
    # historical read at genesis still sees the old state
    genesis = ws.result("chain_getBlockHash", [0])
    assert ws.result("state_getStorage", [_hex(kv_key(ALICE)), genesis]) is None


def test_future_then_ready_when_the_gap_fills(ws: WsClient) -> None:
    sub1 = ws.result("author_submitAndWatchExtrinsic", [_hex(make_tx(ALICE, 1, payload=b"two"))])
    assert ws.wait_notes(sub1, 1) == ["future"]
    assert ws.result("system_accountNextIndex", [_hex(ALICE)]) == 0
    sub0 = ws.result("author_submitAndWatchExtrinsic", [_hex(make_tx(ALICE, 0, payload=b"one"))])
    notes1 = ws.wait_notes(sub1, 4)
    assert notes1[1] == "ready" and "inBlock" in notes1[2] and "finalized" in notes1[3]
    ws.wait_notes(sub0, 3)
    assert ws.result("state_getStorage", [_hex(kv_key(ALICE))]) == _hex(b"two")
    assert ws.result("system_accountNextIndex", [_hex(ALICE)]) == 2


def test_duplicate_banned_low_priority_bad_signature_stale(ws: WsClient, stub_node: NodeThread) -> None:
    root = ws.result("chain_getHeader")["stateRoot"]
    # bad signature -> 1010 with sp-runtime's text
    resp = ws.call("author_submitExtrinsic", [_hex(make_tx(ALICE, 0, ok=False))])
    assert resp["error"] == {
        "code": 1010,
        "message": "Invalid Transaction",
        "data": "Transaction has a bad signature",
    }
    # malformed SCALE inside a good envelope -> verification error; a broken envelope -> 1040
    resp = ws.call("author_submitExtrinsic", ["0x0c010203"])
    assert resp["error"]["code"] == 1002
    resp = ws.call("author_submitExtrinsic", ["0xff"])
    assert resp["error"]["code"] == 1040
    assert ws.result("chain_getHeader")["stateRoot"] == root

    # a future tx (nonce 5) stays put; the same tag at equal priority is "too low"
    first = make_tx(ALICE, 5, tip=10, payload=b"a")
    ws.result("author_submitExtrinsic", [_hex(first)])
    resp = ws.call("author_submitExtrinsic", [_hex(first)])
    assert resp["error"]["code"] == 1013 and resp["error"]["message"] == "Transaction Already Imported"
    resp = ws.call("author_submitExtrinsic", [_hex(make_tx(ALICE, 5, tip=10, payload=b"b"))])
    assert resp["error"]["code"] == 1014
    assert resp["error"]["message"] == "Priority is too low: (10 vs 10)"
    # a higher tip replaces it: the first watcher hears "usurped"
    sub = ws.result("author_submitAndWatchExtrinsic", [_hex(make_tx(ALICE, 6, tip=1, payload=b"c"))])
    replacement = make_tx(ALICE, 6, tip=2, payload=b"d")
    new_hash = ws.result("author_submitExtrinsic", [_hex(replacement)])
    notes = ws.wait_notes(sub, 2)
    assert notes == ["future", {"usurped": new_hash}]

    # included -> resubmitting the same bytes is "temporarily banned"
    included = make_tx(BOB, 0, payload=b"x")
    sub = ws.result("author_submitAndWatchExtrinsic", [_hex(included)])
    ws.wait_notes(sub, 3)
    resp = ws.call("author_submitExtrinsic", [_hex(included)])
    assert resp["error"] == {"code": 1012, "message": "Transaction is temporarily banned"}
    # a stale nonce with different bytes -> 1010 outdated
    resp = ws.call("author_submitExtrinsic", [_hex(make_tx(BOB, 0, payload=b"other"))])
    assert resp["error"]["data"] == "Transaction is outdated"
    pending = ws.result("author_pendingExtrinsics")
    assert pending == []  # nonces 5/6 are future, not ready


def test_priority_orders_a_block(ws: WsClient, stub_node: NodeThread) -> None:
    txs = [make_tx(bytes([10 + i]) * 32, 0, tip=i, payload=b"p") for i in range(5)]
    node = stub_node.node
    assert node is not None

    def submit_all() -> list[bytes]:
        for tx in txs:
            node.submit(tx)
        return [t.data for t in node.pool.best()]

    best = stub_node.call(submit_all)
    assert best == list(reversed(txs))
