"""A dev node as users start it: `phala-agent node --dev --tmp --rpc-port 0` in a subprocess
(the URL comes from its first stdout line); killed at teardown. Shared by the registry tests."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent / "phala-agent"
REPO = Path(__file__).resolve().parents[2]


@contextmanager
def dev_node() -> Iterator[str]:
    with tempfile.TemporaryFile(mode="w+") as stderr:
        proc = subprocess.Popen(
            [str(BIN), "node", "--dev", "--tmp", "--rpc-port", "0"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            if not url.startswith("ws://127.0.0.1:"):
                proc.wait(timeout=10)
                stderr.seek(0)
                raise RuntimeError(
                    f"dev node did not start: first line {url!r}, exit {proc.poll()}: {stderr.read()[-2000:]}"
                )
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
            if proc.stdout is not None:
                proc.stdout.close()


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The installed `phala-agent` binary, as a user runs it."""
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout, check=False)
