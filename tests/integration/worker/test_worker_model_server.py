"""The llama-server child process: start, health, stop, and a clear error when it cannot start."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from phala_agents.errors import UpstreamError
from phala_agents.worker.model_server import ModelServer, find_llama_server, find_model

BINARY = find_llama_server()
needs_binary = pytest.mark.skipif(BINARY is None, reason="llama-server is not built: run `make llama`")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes once it is reaped or defunct.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@needs_binary
def test_a_bad_model_file_is_an_upstream_error(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"GGUF but not really")
    assert BINARY is not None
    server = ModelServer(binary=BINARY, model=bogus, startup_timeout=30)
    with pytest.raises(UpstreamError, match="exited with code"):
        server.start()
    assert server.pid is None


@needs_binary
def test_start_health_and_stop(tmp_path: Path) -> None:
    if find_model() is None:
        pytest.skip("SmolLM2 weights are not installed: run `make llama`")
    log = tmp_path / "llama.log"
    with ModelServer.dev(log_path=log) as server:
        pid = server.pid
        assert pid is not None
        assert server.base_url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{server.root_url}/health", trust_env=False).status_code == 200
    assert server.pid is None
    assert not _alive(pid)
    assert log.stat().st_size > 0


def test_dev_without_a_build_says_what_to_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PHALA_LLAMA_DIR", str(tmp_path))
    monkeypatch.setenv("PHALA_LLAMA_MODEL", str(tmp_path / "missing.gguf"))
    with pytest.raises(UpstreamError, match="run `make llama`"):
        ModelServer.dev()
