"""Bad extrinsics against the real runtime over a real socket: each gets the code and text a
Substrate node gives, the connection stays usable and the state root does not move."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sr25519
from substrateinterface import Keypair, SubstrateInterface

from conftest import WsClient
from phala_agents.node import NodeConfig, NodeThread
from phala_agents.scale import encode_compact

ALICE = Keypair.create_from_uri("//Alice")


@pytest.fixture(scope="module")
def real_node() -> Iterator[NodeThread]:
    with NodeThread(NodeConfig(rpc_port=0)) as node:
        yield node


@pytest.fixture(scope="module")
def substrate(real_node: NodeThread) -> Iterator[SubstrateInterface]:
    s = SubstrateInterface(url=real_node.url)
    s.init_runtime()
    yield s
    s.close()


def _signed(
    s: SubstrateInterface,
    pair: Keypair,
    nonce: int,
    *,
    genesis: bytes | None = None,
    spec: int | None = None,
    corrupt_signature: bool = False,
) -> str:
    call = bytes(s.compose_call("System", "remark", {"remark": "0x00"}).data.data)
    real_genesis = bytes.fromhex(s.get_block_hash(0)[2:])
    extra = b"\x00" + encode_compact(nonce) + encode_compact(0) + b"\x00"  # immortal, tip 0, mode 0
    additional = (
        (spec if spec is not None else s.runtime_version).to_bytes(4, "little")
        + s.transaction_version.to_bytes(4, "little")
        + (genesis or real_genesis)
        + real_genesis
        + b"\x00"
    )
    signature = sr25519.sign((pair.public_key, pair.private_key), call + extra + additional)
    if corrupt_signature:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    body = b"\x84\x00" + pair.public_key + b"\x01" + signature + extra + call
    return "0x" + (encode_compact(len(body)) + body).hex()


def _expect(ws: WsClient, xt: str, code: int, data: str | None) -> None:
    root = ws.result("chain_getHeader")["stateRoot"]
    resp = ws.call("author_submitExtrinsic", [xt])
    assert resp["error"]["code"] == code, resp
    if data is not None:
        assert resp["error"]["data"] == data
    assert ws.result("chain_getHeader")["stateRoot"] == root
    assert ws.result("author_pendingExtrinsics") == []


def test_bad_extrinsics_get_substrate_errors(real_node: NodeThread, substrate: SubstrateInterface) -> None:
    ws = WsClient(real_node.url)
    try:
        good = _signed(substrate, ALICE, 0)
        _expect(
            ws, _signed(substrate, ALICE, 0, corrupt_signature=True), 1010, "Transaction has a bad signature"
        )
        _expect(
            ws, _signed(substrate, ALICE, 0, genesis=b"\x11" * 32), 1010, "Transaction has a bad signature"
        )
        _expect(ws, _signed(substrate, ALICE, 0, spec=substrate.runtime_version + 1), 1010,
                "Transaction has a bad signature")  # fmt: skip
        broke = Keypair.create_from_uri("//NobodyHasFunds")
        _expect(
            ws,
            _signed(substrate, broke, 0),
            1010,
            "Inability to pay some fees (e.g. account balance too low)",
        )
        # a well-formed envelope around bytes that are not an extrinsic
        _expect(ws, "0x1004ffffff", 1002, None)
        _expect(ws, "0xffff", 1040, None)
        # the good one goes in; replaying it is banned, a new stale nonce is outdated
        sub = ws.result("author_submitAndWatchExtrinsic", [good])
        assert "inBlock" in ws.wait_notes(sub, 2)[1]
        _expect(ws, good, 1012, None)
        stale = _signed(substrate, ALICE, 0)  # sr25519 signatures are randomised: other bytes
        _expect(ws, stale, 1010, "Transaction is outdated")
        assert ws.result("system_accountNextIndex", [ALICE.ss58_address]) == 1
    finally:
        ws.close()
