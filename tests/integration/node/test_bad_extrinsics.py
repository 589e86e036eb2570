"""Bad extrinsics against the real runtime over a real socket: each gets the code and text a
Substrate node gives, the connection stays usable and the state root does not move."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _signing import FastSigner
from node_rpc_client import WsClient
from substrateinterface import Keypair, SubstrateInterface

from phala_agents.node import NodeConfig, NodeThread

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
    signer = FastSigner(substrate)
    remark = signer.remark_call()

    def _signed(s: SubstrateInterface, pair: Keypair, nonce: int, **kwargs: object) -> str:
        return signer.sign(pair, nonce, remark, **kwargs)  # type: ignore[arg-type]

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
