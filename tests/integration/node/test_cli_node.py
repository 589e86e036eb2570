"""`phala-agent node` and `phala-agent demo` as users run them: usage errors, exit codes, the
printed URL, SIGTERM, a busy port, and a real-runtime restart after SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from _signing import FastSigner
from node_rpc_client import WsClient
from substrateinterface import Keypair, SubstrateInterface
from typer.testing import CliRunner

from phala_agents.cli._app import app

BIN = Path(sys.executable).parent / "phala-agent"


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(BIN), "node", "--dev", "--rpc-port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("ws://127.0.0.1:"), (url, proc.stderr.read() if proc.stderr else "")
    return proc, url


def _reap(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.kill()
    code = proc.wait(timeout=30)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return code


def test_usage_errors_and_help() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["node"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["node", "--dev", "--tmp", "--base-path", "/tmp/x"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["node", "--help"])
    assert result.exit_code == 0
    assert "Exit codes" in result.stdout and "in use" in result.stdout


def test_sigterm_stops_cleanly_and_busy_port_is_exit_3() -> None:
    proc, url = _start("--tmp")
    try:
        http = url.replace("ws://", "http://")
        resp = httpx.post(http, json={"jsonrpc": "2.0", "id": 1, "method": "system_chain"})
        assert resp.json()["result"] == "Development"
        port = url.rsplit(":", 1)[1]
        busy = subprocess.run(
            [str(BIN), "node", "--dev", "--tmp", "--rpc-port", port],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert busy.returncode == 3, busy.stderr
        assert "in use" in busy.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        _reap(proc)


def test_real_runtime_sigkill_mid_load_loses_no_finalized_block(tmp_path: Path) -> None:
    """Transfers stream in over one connection while the node is SIGKILLed; after a restart every
    block a client saw finalized is there with the same header, and the chain goes on."""
    base = tmp_path / "chain"
    proc, url = _start("--base-path", str(base))
    finalized: list[dict[str, object]] = []
    try:
        s = SubstrateInterface(url=url)
        signer = FastSigner(s)
        s.close()
        senders = [Keypair.create_from_uri(f"//{n}") for n in ("Alice", "Bob", "Charlie")]
        xts = [
            signer.sign(
                pair, nonce, signer.transfer_call(bytes([7, nonce % 256, k]) * 10 + b"\x01\x02", 10**12)
            )
            for nonce in range(400)
            for k, pair in enumerate(senders)
        ]
        watcher = WsClient(url)
        sub = watcher.result("chain_subscribeFinalizedHeads")
        stop = threading.Event()

        def load() -> None:
            client = WsClient(url)
            try:
                for start in range(0, len(xts), 30):
                    if stop.is_set():
                        return
                    batch = [
                        {
                            "jsonrpc": "2.0",
                            "id": start + i,
                            "method": "author_submitExtrinsic",
                            "params": [xt],
                        }
                        for i, xt in enumerate(xts[start : start + 30])
                    ]
                    client.raw(json.dumps(batch))
            except Exception:
                pass  # the node died under us: expected
            finally:
                with contextlib.suppress(Exception):
                    client.close()

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        finalized = [dict(n) for n in watcher.wait_notes(sub, 12, timeout=120)]
        os.kill(proc.pid, signal.SIGKILL)  # mid-load: no clean shutdown
        proc.wait(timeout=30)
        stop.set()
        loader.join(timeout=30)
        with contextlib.suppress(Exception):
            watcher.close()
    finally:
        _reap(proc)
    proc, url = _start("--base-path", str(base))
    try:
        ws = WsClient(url)
        head = ws.result("chain_getHeader")
        assert int(str(head["number"]), 16) >= int(str(finalized[-1]["number"]), 16)
        for note in finalized:
            block_hash = ws.result("chain_getBlockHash", [int(str(note["number"]), 16)])
            assert ws.result("chain_getHeader", [block_hash]) == note
        s = SubstrateInterface(url=url)
        nonce = s.get_account_nonce(senders[0].ss58_address)
        assert nonce > 0
        call = s.compose_call(
            "Balances", "transfer_keep_alive", {"dest": senders[1].ss58_address, "value": 10**12}
        )
        receipt = s.submit_extrinsic(
            s.create_signed_extrinsic(call=call, keypair=senders[0]), wait_for_inclusion=True
        )
        assert receipt.is_success
        s.close()
        ws.close()
    finally:
        _reap(proc)


def test_demo_tour_exits_zero() -> None:
    result = subprocess.run([str(BIN), "demo"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for expected in (
        "The dev chain",
        "//Alice",
        "payment_queryInfo",
        "Balances.Transfer",
        "TransactionFeePaid",
        "Balances after",
        "stopped cleanly",
    ):
        assert expected in out


def test_database_of_another_chain_is_exit_4(tmp_path: Path) -> None:
    from _stub_runtime import stub_backend

    from phala_agents.node import NodeConfig, NodeThread

    base = tmp_path / "other"
    with NodeThread(NodeConfig(base_path=base, rpc_port=0), stub_backend()):
        pass
    result = subprocess.run(
        [str(BIN), "node", "--dev", "--base-path", str(base), "--rpc-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 4
    assert "database genesis" in result.stderr and result.stdout == ""
