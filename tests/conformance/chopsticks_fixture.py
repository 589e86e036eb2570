"""A reusable chopsticks fixture: a real Substrate wasm runtime (Rococo Asset Hub), offline.

Recipe from notes/substrate.md 2.3: the raw genesis spec shipped in
``@substrate/connect-known-chains`` is extracted once into ``.cache/chopsticks/`` (git-ignored),
then ``chopsticks.cjs`` is started directly with node (never through npx, whose wrapper would
leave the node child running) on a free 127.0.0.1 port, in Instant mode, with import-storage
funding //Alice and //Bob. Teardown kills the process group we created.

Use it from a test module::

    from chopsticks_fixture import chopsticks  # noqa: F401  (a pytest fixture)

    def test_x(chopsticks: Chopsticks) -> None:
        url = chopsticks.url

or, outside pytest, ``with run_chopsticks() as chain: ...``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
JS_DIR = REPO_ROOT / "js"
CHOPSTICKS_CJS = JS_DIR / "node_modules" / "@acala-network" / "chopsticks" / "chopsticks.cjs"
KNOWN_CHAINS = JS_DIR / "node_modules" / "@substrate" / "connect-known-chains"
CACHE_DIR = REPO_ROOT / ".cache" / "chopsticks"
SPEC_NAME = "rococo_v2_2_asset_hub"
SPEC_PATH = CACHE_DIR / f"{SPEC_NAME}.json"

# SS58 (prefix 42) of //Alice, //Bob, //Charlie, //Dave: chopsticks accepts any prefix.
DEV_ADDRESSES = {
    "alice": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
    "bob": "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
    "charlie": "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y",
    "dave": "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy",
}
# Above 2^53, so it must be a JSON string (notes/substrate.md 1.5.5).
DEV_FREE_BALANCE = "1000000000000000000"

START_TIMEOUT = 90.0  # seconds; the machine is shared, start is ~2 s when idle


@dataclass(frozen=True, slots=True, kw_only=True)
class Chopsticks:
    url: str
    port: int
    pid: int
    log_path: Path


def chopsticks_available() -> str | None:
    """None when chopsticks can run here, else why not (for pytest.skip)."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not CHOPSTICKS_CJS.exists():
        return f"{CHOPSTICKS_CJS.relative_to(REPO_ROOT)} is missing: run `make setup` (npm ci in js/)"
    if not SPEC_PATH.exists() and not KNOWN_CHAINS.exists():
        return "@substrate/connect-known-chains is missing: run `make setup`"
    return None


def ensure_spec() -> Path:
    """Extract the raw genesis spec once into the cache (an ESM module exporting a string)."""
    if SPEC_PATH.exists() and SPEC_PATH.stat().st_size > 0:
        return SPEC_PATH
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=CACHE_DIR, prefix=f".{SPEC_NAME}.", suffix=".tmp")
    os.close(fd)
    script = (
        f'import("@substrate/connect-known-chains/{SPEC_NAME}")'
        f'.then(m => require("fs").writeFileSync(process.argv[1], m.chainSpec))'
    )
    try:
        subprocess.run(["node", "-e", script, tmp], cwd=JS_DIR, check=True, timeout=60, capture_output=True)
        # Atomic: parallel test runs never see a half-written spec.
        os.replace(tmp, SPEC_PATH)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return SPEC_PATH


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(spec: Path, port: int, accounts: Sequence[str]) -> str:
    lines = [
        f"genesis: {spec}",
        "host: 127.0.0.1",
        f"port: {port}",
        "build-block-mode: Instant",
        "import-storage:",
        "  System:",
        "    Account:",
    ]
    for address in accounts:
        lines += [
            f"      - - - {address}",
            "        - providers: 1",
            "          data:",
            f'            free: "{DEV_FREE_BALANCE}"',
        ]
    return "\n".join(lines) + "\n"


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    # start_new_session=True made the child a group leader: this reaches only what we started.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def run_chopsticks(
    *, accounts: Sequence[str] = tuple(DEV_ADDRESSES.values()), workdir: Path | None = None
) -> Iterator[Chopsticks]:
    """Start chopsticks offline on a free port; stop it when the block ends."""
    spec = ensure_spec()
    with contextlib.ExitStack() as stack:
        base = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chopsticks-")))
        for attempt in range(3):
            port = free_port()
            config = base / f"chopsticks-{port}.yml"
            config.write_text(_config(spec, port, accounts))
            log_path = base / f"chopsticks-{port}.log"
            log = stack.enter_context(log_path.open("wb"))
            proc = subprocess.Popen(
                ["node", str(CHOPSTICKS_CJS), "-c", str(config)],
                cwd=JS_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            stack.callback(_stop, proc)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and proc.poll() is None:
                if _port_open(port) and b"RPC listening" in log_path.read_bytes():
                    break
                time.sleep(0.1)
            if proc.poll() is None and _port_open(port):
                yield Chopsticks(url=f"ws://127.0.0.1:{port}", port=port, pid=proc.pid, log_path=log_path)
                return
            _stop(proc)
            if attempt == 2:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"chopsticks did not start on port {port}:\n{tail}")


@pytest.fixture(scope="module")
def chopsticks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chopsticks]:
    """A fresh chopsticks chain per test module (//Alice, //Bob, //Charlie, //Dave hold 10^18)."""
    reason = chopsticks_available()
    if reason is not None:
        pytest.skip(reason)
    with run_chopsticks(workdir=tmp_path_factory.mktemp("chopsticks")) as chain:
        yield chain
