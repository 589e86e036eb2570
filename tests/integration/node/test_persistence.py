"""Persistence: a restart resumes the same head and state root; SIGKILL mid-load loses no
finalized block (the node subprocess is really killed with SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from _stub_runtime import kv_key, make_tx, stub_backend
from node_rpc_client import WsClient

from phala_agents.chain.trie import verify_read_proof
from phala_agents.node import NodeConfig, NodeThread

HERE = Path(__file__).parent


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def test_restart_resumes_head_and_state(tmp_path: Path) -> None:
    config = NodeConfig(base_path=tmp_path / "db", rpc_port=0)
    with NodeThread(config, stub_backend()) as node:
        ws = WsClient(node.url)
        for nonce in range(3):
            sub = ws.result("author_submitAndWatchExtrinsic", [_hex(make_tx(b"\x07" * 32, nonce))])
            ws.wait_notes(sub, 3)
        head = ws.result("chain_getHeader")
        head_hash = ws.result("chain_getHead")
        ws.close()
    with NodeThread(config, stub_backend()) as node:
        ws = WsClient(node.url)
        assert ws.result("chain_getHeader") == head
        assert ws.result("chain_getHead") == head_hash
        assert ws.result("state_getStorage", [_hex(kv_key(b"\x07" * 32))]) == _hex(b"x")
        assert ws.result("system_accountNextIndex", [_hex(b"\x07" * 32)]) == 3
        # proofs at the resumed head work, and at older blocks (their tries are rebuilt)
        assert ws.result("state_getReadProof", [[_hex(kv_key(b"\x07" * 32))]])["proof"]
        first = ws.result("chain_getBlockHash", [1])
        proof = ws.result("state_getReadProof", [[_hex(kv_key(b"\x07" * 32))], first])
        root = bytes.fromhex(ws.result("chain_getHeader", [first])["stateRoot"][2:])
        got = verify_read_proof(root, [bytes.fromhex(p[2:]) for p in proof["proof"]], [kv_key(b"\x07" * 32)])
        assert got == {kv_key(b"\x07" * 32): b"x"}
        sub = ws.result("author_submitAndWatchExtrinsic", [_hex(make_tx(b"\x07" * 32, 3))])
        assert "inBlock" in ws.wait_notes(sub, 3)[1]
        ws.close()


def _start(base: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_stub_node_main.py"), str(base)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("ws://"), url
    return proc, url


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


def test_sigkill_mid_load_loses_no_finalized_block(tmp_path: Path) -> None:
    base = tmp_path / "db"
    proc, url = _start(base)
    finalized: list[dict[str, str]] = []
    try:
        watcher = WsClient(url)  # closed by the kill
        sub = watcher.result("chain_subscribeFinalizedHeads")
        stop = threading.Event()

        def load() -> None:
            client = WsClient(url)
            accounts = [bytes([50 + i]) * 32 for i in range(4)]
            nonce = 0
            try:
                while not stop.is_set():
                    batch = [
                        {
                            "jsonrpc": "2.0",
                            "id": nonce * 10 + i,
                            "method": "author_submitExtrinsic",
                            "params": [_hex(make_tx(acc, nonce))],
                        }
                        for i, acc in enumerate(accounts)
                    ]
                    client.raw(json.dumps(batch))
                    nonce += 1
            except Exception:
                pass  # the node died under us: expected

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        notes = watcher.wait_notes(sub, 25, timeout=60)
        finalized = [dict(n) for n in notes]
        os.kill(proc.pid, signal.SIGKILL)  # mid-load, no clean shutdown
        proc.wait(timeout=10)
        stop.set()
        loader.join(timeout=10)
        watcher.close()
    finally:
        _kill(proc)
    last = finalized[-1]
    last_number = int(last["number"], 16)
    proc, url = _start(base)
    try:
        ws = WsClient(url)
        head = ws.result("chain_getHeader")
        assert int(head["number"], 16) >= last_number
        for note in finalized:
            number = int(note["number"], 16)
            block_hash = ws.result("chain_getBlockHash", [number])
            assert ws.result("chain_getHeader", [block_hash]) == note
        ws.close()
    finally:
        _kill(proc)


def test_read_proofs_outside_the_window_are_refused(tmp_path: Path) -> None:
    config = NodeConfig(base_path=tmp_path / "db", rpc_port=0, keep_tries=2)
    with NodeThread(config, stub_backend()) as node:
        ws = WsClient(node.url)
        for nonce in range(3):
            sub = ws.result("author_submitAndWatchExtrinsic", [_hex(make_tx(b"\x08" * 32, nonce))])
            ws.wait_notes(sub, 2)
        old = ws.call("state_getReadProof", [[], ws.result("chain_getBlockHash", [1])])
        assert old["error"]["code"] == 4003
        assert "State already discarded" in old["error"]["message"]
        assert ws.result("state_getReadProof", [[], ws.result("chain_getBlockHash", [2])])["at"]
        ws.close()


def test_one_node_per_base_path(tmp_path: Path) -> None:
    import pytest

    from phala_agents.node import ChainError

    config = NodeConfig(base_path=tmp_path / "db", rpc_port=0)
    with NodeThread(config, stub_backend()), pytest.raises(ChainError, match="another node"):
        NodeThread(config, stub_backend()).start()
    with NodeThread(config, stub_backend()) as again:  # the lock is released on stop
        assert again.url
