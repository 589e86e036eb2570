"""Dev node and worker as real subprocesses on free loopback ports (for SDK and crash tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from phala_agents.client import ChainClient, load_agent_file, prepare_agent, register_call_args

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from phala_agents.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proc:
    """A child in its own process group; ``kill()`` (SIGKILL) or ``stop()`` (SIGTERM then KILL)."""

    def __init__(self, args: Sequence[str], log: Path) -> None:
        self.log = log
        self._file = log.open("ab")
        env = os.environ | {"PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            list(args), stdout=self._file, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=REPO
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        self._file.close()


def wait_http(url: str, proc: Proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not proc.alive():
            raise RuntimeError(f"process exited: {proc.log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not up: {proc.log.read_text()[-2000:]}")
        time.sleep(0.05)


def start_node(tmp: Path) -> tuple[Proc, str]:
    port = free_port()
    proc = Proc([*CLI, "node", "--dev", "--tmp", "--rpc-port", str(port)], tmp / "node.log")
    _wait_rpc(port, proc)
    return proc, f"ws://127.0.0.1:{port}"


def _wait_rpc(port: int, proc: Proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    body = {"jsonrpc": "2.0", "id": 1, "method": "system_health", "params": []}
    while True:
        try:
            if httpx.post(f"http://127.0.0.1:{port}", json=body, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not proc.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"node not up: {proc.log.read_text()[-2000:]}")
        time.sleep(0.05)


def start_worker(
    tmp: Path,
    chain_url: str,
    *,
    port: int | None = None,
    extra: Sequence[str] = (),
    log_name: str = "worker.log",
) -> tuple[Proc, str]:
    port = port or free_port()
    args = [
        *CLI,
        "--log-level",
        "info",
        "--log-json",
        "worker",
        "run",
        "--dev",
        "--url",
        chain_url,
        "--port",
        str(port),
        "--ledger",
        str(tmp / "ledger.sqlite"),
        *extra,
    ]
    proc = Proc(args, tmp / log_name)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", proc)
    return proc, url


def deploy_example(client: ChainClient, owner_suri: str = "//Bob", name: str = "assistant") -> int:
    definition = load_agent_file(REPO / "examples" / name / "agent.toml")
    cluster = client.get_storage("Workers", "ClusterKey", at="best")
    assert isinstance(cluster, dict)
    agent_id = int(str(client.get_storage("AgentRegistry", "NextAgentId", at="best")))
    prepared = prepare_agent(
        definition,
        cluster_pub=bytes.fromhex(str(cluster["public"])[2:]),
        epoch=int(str(cluster["epoch"])),
        agent_id=agent_id,
        version=1,
    )
    client.sign_and_submit(
        "AgentRegistry",
        "register",
        register_call_args(prepared),
        client.keypair(owner_suri),
        wait_for="finalized",
    ).raise_for_error()
    return agent_id


def escrow_of(client: ChainClient, suri: str) -> int:
    value = client.get_storage("Billing", "Escrow", client.keypair(suri), at="finalized")
    return int(str(value["balance"])) if isinstance(value, dict) else 0
