"""Header SCALE layout, hash and JSON; body round trip; SS58; JSON-RPC framing without sockets."""

from __future__ import annotations

import json

from phala_agents.node import Header
from phala_agents.node._blocks import decode_body, encode_body
from phala_agents.node._jsonrpc import Dispatcher
from phala_agents.node._ss58 import ss58_decode
from phala_agents.scale import blake2_256


def test_header_encoding_and_hash() -> None:
    header = Header(
        parent_hash=b"\x01" * 32,
        number=70,
        state_root=b"\x02" * 32,
        extrinsics_root=b"\x03" * 32,
        digest=(b"\x06aura\x10abcd",),
    )
    raw = header.encode()
    assert raw[32:34] == (70 << 2 | 1).to_bytes(2, "little")  # compact u32 in two bytes
    assert raw.endswith(b"\x04\x06aura\x10abcd")
    assert header.hash == blake2_256(raw)
    assert Header.decode(raw) == header
    assert header.to_json()["number"] == "0x46"


def test_body_round_trip() -> None:
    xts = [b"\x08ab", b"\x0cxyz"]
    assert decode_body(encode_body(xts)) == xts


def test_ss58_alice() -> None:
    alice = ss58_decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
    assert alice.hex() == "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"


class _Conn:
    is_websocket = True
    closed = False

    def __init__(self) -> None:
        self.subscriptions: dict[str, object] = {}

    def send_text(self, text: str) -> None:
        pass


def test_dispatcher_notifications_and_errors() -> None:
    d = Dispatcher()
    d.add("echo", lambda call, params: params)
    conn = _Conn()
    text, _ = d.handle(conn, '{"jsonrpc":"2.0","id":"a","method":"echo","params":[1]}')  # type: ignore[arg-type]
    assert json.loads(text or "") == {"jsonrpc": "2.0", "result": [1], "id": "a"}
    text, _ = d.handle(conn, '{"jsonrpc":"2.0","method":"echo"}')  # type: ignore[arg-type]
    assert text is None
    text, _ = d.handle(conn, '{"jsonrpc":"1.0","id":1,"method":"echo"}')  # type: ignore[arg-type]
    assert json.loads(text or "")["error"]["code"] == -32600
