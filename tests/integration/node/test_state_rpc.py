"""state_* and chain_* reads over a socket (stub runtime): keys paging, historical reads, read
proofs that verify against the header's state root, storage and runtime-version subscriptions."""

from __future__ import annotations

from _stub_runtime import kv_key, make_tx, nonce_key
from node_rpc_client import WsClient

from phala_agents.chain.trie import verify_read_proof
from phala_agents.scale import blake2_256


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _include(ws: WsClient, tx: bytes) -> str:
    sub = ws.result("author_submitAndWatchExtrinsic", [_hex(tx)])
    return ws.wait_notes(sub, 2)[1]["inBlock"]


def test_keys_paged_history_and_proofs(ws: WsClient) -> None:
    accounts = [bytes([i]) * 32 for i in range(20, 27)]
    storage_sub = ws.result("state_subscribeStorage", [[_hex(kv_key(accounts[0]))]])
    first_block = None
    for acc in accounts:
        block = _include(ws, make_tx(acc, 0, payload=b"v1"))
        first_block = first_block or block
    prefix = b"stub:kv:"
    page1 = ws.result("state_getKeysPaged", [_hex(prefix), 3])
    page2 = ws.result("state_getKeysPaged", [_hex(prefix), 3, page1[-1]])
    page3 = ws.result("state_getKeysPaged", [_hex(prefix), 3, page2[-1]])
    assert page1 + page2 + page3 == sorted(_hex(kv_key(a)) for a in accounts)
    # at the first block only the first account's key existed
    assert ws.result("state_getKeysPaged", [_hex(prefix), 10, None, first_block]) == [
        _hex(kv_key(accounts[0]))
    ]
    values = ws.result("state_queryStorageAt", [[_hex(kv_key(accounts[1])), "0x00"]])
    assert values[0]["changes"] == [[_hex(kv_key(accounts[1])), _hex(b"v1")], ["0x00", None]]
    assert ws.result("state_getStorageHash", [_hex(kv_key(accounts[1]))]) == _hex(blake2_256(b"v1"))
    assert ws.result("state_getStorageSize", [_hex(kv_key(accounts[1]))]) == 2

    # a second write to account 0 changes its value; the old block still reads the old one
    _include(ws, make_tx(accounts[0], 1, payload=b"v2"))
    assert ws.result("state_getStorage", [_hex(kv_key(accounts[0])), first_block]) == _hex(b"v1")
    notes = ws.wait_notes(storage_sub, 3)
    assert notes[0]["changes"] == [[_hex(kv_key(accounts[0])), None]]
    assert notes[-1]["changes"] == [[_hex(kv_key(accounts[0])), _hex(b"v2")]]

    # state_queryStorage: the value at the first block, then every block that changed it
    history = ws.result("state_queryStorage", [[_hex(kv_key(accounts[0]))], first_block])
    assert [h["changes"][0][1] for h in history] == [_hex(b"v1"), _hex(b"v2")]
    assert history[0]["block"] == first_block
    head = ws.result("chain_getHead")
    assert ws.call("state_queryStorage", [[], head, first_block])["error"]["code"] == 4001

    # read proofs verify against the header's state root, at the head and at an older block
    keys = [kv_key(accounts[0]), nonce_key(accounts[3]), b"absent"]
    for at in (None, first_block):
        proof = ws.result("state_getReadProof", [[_hex(k) for k in keys], at])
        header = ws.result("chain_getHeader", [proof["at"]])
        got = verify_read_proof(
            bytes.fromhex(header["stateRoot"][2:]), [bytes.fromhex(p[2:]) for p in proof["proof"]], keys
        )
        assert got[b"absent"] is None
        expected = ws.result("state_getStorage", [_hex(keys[0]), proof["at"]])
        assert _hex(got[keys[0]] or b"") == expected


def test_runtime_version_subscription_and_unsubscribe(ws: WsClient) -> None:
    sub = ws.result("state_subscribeRuntimeVersion")
    assert ws.wait_notes(sub, 1)[0]["specName"] == "stub"
    assert ws.result("state_unsubscribeRuntimeVersion", [sub]) is True
    assert ws.result("state_unsubscribeRuntimeVersion", [sub]) is False
    heads = ws.result("chain_subscribeAllHeads")
    assert ws.wait_notes(heads, 1)[0]["number"] == "0x0"
    assert ws.result("chain_unsubscribeAllHeads", [heads]) is True
    methods = ws.result("rpc_methods")["methods"]
    assert "state_getReadProof" in methods and "author_submitAndWatchExtrinsic" in methods
