"""`phala-agent node` and `phala-agent demo` as users run them: usage errors, exit codes, the
printed URL, SIGTERM, a busy port, and a real-runtime restart after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
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


def test_real_runtime_survives_sigkill(tmp_path: Path) -> None:
    base = tmp_path / "chain"
    proc, url = _start("--base-path", str(base))
    try:
        s = SubstrateInterface(url=url)
        alice, bob = Keypair.create_from_uri("//Alice"), Keypair.create_from_uri("//Bob")
        call = s.compose_call("Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": 10**12})
        receipt = s.submit_extrinsic(
            s.create_signed_extrinsic(call=call, keypair=alice), wait_for_finalization=True
        )
        assert receipt.is_success
        head = s.get_block_header()["header"]
        bob_free = s.query("System", "Account", [bob.ss58_address]).value["data"]["free"]
        s.close()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        _reap(proc)
    proc, url = _start("--base-path", str(base))
    try:
        s = SubstrateInterface(url=url)
        again = s.get_block_header()["header"]
        assert (again["hash"], again["stateRoot"], again["number"]) == (
            head["hash"],
            head["stateRoot"],
            head["number"],
        )
        assert s.query("System", "Account", [bob.ss58_address]).value["data"]["free"] == bob_free
        assert s.get_account_nonce(alice.ss58_address) == 1
        s.close()
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
