"""JSON-RPC framing, limits and bad input over real sockets (stub runtime): each bad input gets
Substrate's (jsonrpsee's) answer, the connection stays usable and the state does not change."""

from __future__ import annotations

import json
import socket

import httpx
from node_rpc_client import WsClient, http_call

from phala_agents.node import NodeConfig, NodeThread

ALICE = bytes([1]) * 32


def _head_root(ws: WsClient) -> str:
    return ws.result("chain_getHeader")["stateRoot"]


def test_http_and_websocket_share_one_port(stub_node: NodeThread, ws: WsClient) -> None:
    via_ws = ws.result("chain_getHeader")
    via_http = http_call(stub_node.http_url, "chain_getHeader")["result"]
    assert via_ws == via_http
    assert via_ws["number"] == "0x0"
    assert ws.result("chain_getBlockHash", [0]) == ws.result("chain_getFinalizedHead")


def test_malformed_json_gets_parse_error_and_connection_survives(ws: WsClient) -> None:
    root = _head_root(ws)
    resp = ws.raw('{"jsonrpc": "2.0", "id": 1, "method": ')
    assert resp == {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
    assert _head_root(ws) == root


def test_invalid_request_objects(ws: WsClient) -> None:
    assert ws.raw('{"id": 7, "method": "system_name"}')["error"]["code"] == -32600
    assert ws.raw("42")["error"] == {"code": -32600, "message": "Invalid request"}
    assert ws.raw("[]")["error"]["code"] == -32600
    assert ws.result("system_chain") == "Development"


def test_unknown_method_and_bad_params(ws: WsClient) -> None:
    resp = ws.call("nope_nothing")
    assert resp["error"] == {"code": -32601, "message": "Method not found"}
    resp = ws.call("state_getStorage", ["not-hex"])
    assert resp["error"]["code"] == -32602
    assert resp["error"]["message"] == "Invalid params"
    resp = ws.call("chain_getBlockHash", [True])
    assert resp["error"]["code"] == -32602
    resp = ws.call("state_getKeysPaged", ["0x", 1001])
    assert resp["error"]["code"] == 4002
    resp = ws.call("state_getStorage", ["0x00", "0x" + "11" * 32])
    assert resp["error"]["code"] == 4003
    assert "UnknownBlock" in resp["error"]["message"]
    assert ws.result("system_health") == {"peers": 0, "isSyncing": False, "shouldHavePeers": False}


def test_batch_requests(stub_node: NodeThread, ws: WsClient) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "system_name"},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
        {"jsonrpc": "2.0", "method": "system_name"},  # a notification: no response
        {"jsonrpc": "2.0", "id": 3, "method": "chain_getBlockHash", "params": [[0, 5]]},
    ]
    resp = ws.raw(json.dumps(batch))
    assert [r["id"] for r in resp] == [1, 2, 3]
    assert resp[1]["error"]["code"] == -32601
    assert resp[2]["result"][1] is None
    via_http = httpx.post(stub_node.http_url, json=batch).json()
    assert [r["id"] for r in via_http] == [1, 2, 3]


def test_oversized_requests(tmp_path: object) -> None:
    config = NodeConfig(rpc_port=0, rpc_max_request_size=1024)
    from _stub_runtime import stub_backend

    with NodeThread(config, stub_backend()) as node:
        client = WsClient(node.url)
        big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "system_name", "params": ["x" * 2000]})
        resp = client.raw(big)
        assert resp["error"] == {
            "code": -32007,
            "message": "Request is too big",
            "data": "Exceeded max limit of 1024",
        }
        assert client.result("system_name")  # still usable
        client.close()
        http = httpx.post(node.http_url, content=big, headers={"content-type": "application/json"})
        assert http.status_code == 413
        assert http.json()["error"]["code"] == -32007


def test_too_many_connections() -> None:
    from _stub_runtime import stub_backend

    with NodeThread(NodeConfig(rpc_port=0, rpc_max_connections=2), stub_backend()) as node:
        first, second = WsClient(node.url), WsClient(node.url)
        third = httpx.post(node.http_url, json={"jsonrpc": "2.0", "id": 1, "method": "system_name"})
        assert third.status_code == 429
        assert third.text == "Too many connections. Please try again later."
        assert first.result("system_name") and second.result("system_name")
        first.close()
        second.close()


def test_http_method_and_content_type_rules(stub_node: NodeThread) -> None:
    assert httpx.get(stub_node.http_url).status_code == 405
    assert httpx.get(stub_node.http_url + "/health").json()["peers"] == 0
    resp = httpx.post(stub_node.http_url, content=b"{}", headers={"content-type": "text/plain"})
    assert resp.status_code == 415
    # keep-alive: two requests on one raw socket
    host, port = stub_node.http_url.removeprefix("http://").split(":")
    body = b'{"jsonrpc":"2.0","id":1,"method":"system_name"}'
    req = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(req + req)
        data = b""
        while data.count(b'"result"') < 2:
            data += sock.recv(65536)
    assert data.count(b"HTTP/1.1 200 OK") == 2


def test_subscription_methods_need_websocket(stub_node: NodeThread) -> None:
    resp = http_call(stub_node.http_url, "chain_subscribeNewHeads")
    assert resp["error"]["code"] == -32601


def test_expect_100_continue(stub_node: NodeThread) -> None:
    host, port = stub_node.http_url.removeprefix("http://").split(":")
    body = b'{"jsonrpc":"2.0","id":1,"method":"system_name"}'
    head = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        data = b""
        while b'"result"' not in data:
            data += sock.recv(65536)
    assert b"200 OK" in data


def test_subscription_limit_per_connection(ws: WsClient) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "state_subscribeRuntimeVersion"} for i in range(1025)]
    resp = ws.raw(json.dumps(batch))
    assert all("result" in r for r in resp[:1024])
    assert resp[1024]["error"] == {
        "code": -32006,
        "message": "Too many subscriptions on the connection",
        "data": "Exceeded max limit of 1024",
    }
    assert ws.result("system_name")
