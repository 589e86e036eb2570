"""ChainClient against real Substrate runtimes: chopsticks (Rococo Asset Hub wasm) and our dev node.

The same tests run on both backends (issue 2: "proven on a real Substrate runtime, not only on
ours"). Tests that steer block production use chopsticks' dev_* RPCs and skip elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chopsticks_fixture import REPO_ROOT, chopsticks_available, free_port, run_chopsticks
from substrateinterface import Keypair

from phala_agents.client import ChainClient, Descriptors
from phala_agents.errors import (
    ClientError,
    ExtrinsicFailed,
    IncompatibleMetadata,
    RpcError,
    SubmissionTimeout,
    TransactionRejected,
)

PHALA_AGENT = REPO_ROOT / ".venv" / "bin" / "phala-agent"
NODE_START_TIMEOUT = 90.0
# Errors a runtime may give for "more than the balance": old Balances, or fungible-based Balances.
INSUFFICIENT = {"Balances::InsufficientBalance", "Token::FundsUnavailable"}


def _dev_node_unavailable() -> str | None:
    if not PHALA_AGENT.exists():
        return "phala-agent is not installed in .venv"
    try:
        out = subprocess.run(
            [str(PHALA_AGENT), "node", "--help"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"phala-agent node --help failed: {exc}"
    if "--dev" not in out.stdout:
        return "the dev node (`phala-agent node --dev`) is not implemented yet"
    return None


@contextlib.contextmanager
def _run_dev_node(workdir: Path, *extra: str) -> Iterator[str]:
    port = free_port()
    log_path = workdir / f"node-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(PHALA_AGENT), "node", "--dev", "--tmp", "--rpc-port", str(port), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + NODE_START_TIMEOUT
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    ChainClient.connect(f"ws://127.0.0.1:{port}", timeout=5).close()
                    break
                except Exception:
                    time.sleep(0.2)
            if proc.poll() is not None:
                raise RuntimeError(f"dev node exited:\n{log_path.read_text(errors='replace')[-2000:]}")
            yield f"ws://127.0.0.1:{port}"
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)


@pytest.fixture(scope="module", params=["chopsticks", "devnode"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(name, ws url) of a freshly started chain, one per backend for the whole module."""
    name = request.param
    workdir = tmp_path_factory.mktemp(name)
    if name == "chopsticks":
        reason = chopsticks_available()
        if reason is not None:
            pytest.skip(reason)
        with run_chopsticks(workdir=workdir) as chain:
            yield name, chain.url
    else:
        reason = _dev_node_unavailable()
        if reason is not None:
            pytest.skip(reason)
        with _run_dev_node(workdir) as url:
            yield name, url


@pytest.fixture(scope="module")
def api(backend: tuple[str, str]) -> Iterator[ChainClient]:
    """One client per backend: connecting decodes the metadata (~0.7 s of scalecodec on chopsticks)."""
    client = ChainClient.connect(backend[1], timeout=30)
    try:
        yield client
    finally:
        client.close()


def _fresh_account() -> Keypair:
    return Keypair.create_from_mnemonic(Keypair.generate_mnemonic())


def _require_chopsticks(backend: tuple[str, str]) -> None:
    if backend[0] != "chopsticks":
        pytest.skip("not applicable: steers block production with chopsticks' dev_* RPCs")


def test_connect_identity_and_typed_reads(api: ChainClient) -> None:
    assert api.is_dev_chain
    assert api.metadata_hash.startswith("0x") and len(api.metadata_hash) == 66
    alice = api.keypair("//Alice")
    best = api.query.System.Account.get(alice, at="best")
    finalized = api.query("System", "Account", alice.ss58_address, at="finalized")
    assert isinstance(best, dict) and isinstance(finalized, dict)
    assert best["data"]["free"] > 0
    number = api.query.System.Number.get(at="best")
    assert number == api.head("best").number
    assert isinstance(api.constants.Balances.ExistentialDeposit, int)
    head = api.head("best")
    assert api.block_hash(head.number) == head.hash
    with pytest.raises(AttributeError, match="NoSuchEntry"):
        api.query.System.NoSuchEntry.get()


def test_query_map_pages_cover_the_map_once(api: ChainClient) -> None:
    at = api.block_hash("best")
    everything = list(api.query_map("System", "Account", at=at, page_size=1000))
    paged = list(api.query_map("System", "Account", at=at, page_size=2))
    assert len(everything) >= 4
    assert sorted(str(k) for k, _ in paged) == sorted(str(k) for k, _ in everything)
    first = api.query_page("System", "Account", at=at, page_size=2)
    assert len(first.items) == 2 and first.next_key is not None
    second = api.query_page("System", "Account", at=at, page_size=2, start_key=first.next_key)
    assert {str(k) for k, _ in first.items}.isdisjoint({str(k) for k, _ in second.items})
    assert len(list(api.query.System.Account.entries(at=at, max_results=3))) == 3


def test_transfer_succeeds_with_events_and_fee(api: ChainClient) -> None:
    alice = api.keypair("//Alice")
    dest = _fresh_account()
    amount = 10**12
    before = api.balance(alice)
    result = api.tx.Balances.transfer_keep_alive(dest=dest, value=amount).sign_and_submit(alice)
    assert result.raise_for_error() is result
    assert result.ok and result.error is None
    assert result.status == "inBlock"
    assert result.extrinsic_hash.startswith("0x") and result.block_hash.startswith("0x")
    (transfer,) = result.find("Balances", "Transfer")
    assert isinstance(transfer.attributes, dict) and transfer.attributes["amount"] == amount
    assert result.find("System", "ExtrinsicSuccess")
    assert result.fee is not None and result.fee > 0
    after = api.balance(alice, at=result.block_hash)
    # Everything Alice lost is the amount plus the fee the events reported.
    assert before.free - after.free == amount + result.fee
    assert after.nonce == before.nonce + 1
    assert api.balance(dest.ss58_address, at=result.block_hash).free == amount


def test_failing_transfer_is_a_module_error(api: ChainClient) -> None:
    bob = api.keypair("//Bob")
    before = api.balance(bob)
    result = api.transfer(bob, _fresh_account(), 10**30, keep_alive=False)
    assert not result.ok
    assert result.error in INSUFFICIENT
    assert result.find("System", "ExtrinsicFailed")
    assert result.fee is not None and result.fee > 0
    with pytest.raises(ExtrinsicFailed) as caught:
        result.raise_for_error()
    assert caught.value.error == result.error
    assert caught.value.extrinsic_hash == result.extrinsic_hash
    # A failed call still pays its fee, and nothing else moves.
    after = api.balance(bob, at=result.block_hash)
    assert before.free - after.free == result.fee


def test_stale_nonce_is_rejected_with_1010(api: ChainClient) -> None:
    charlie = api.keypair("//Charlie")
    api.transfer(charlie, _fresh_account(), 10**12).raise_for_error()
    used = api.balance(charlie).nonce - 1
    stale = api.tx.Balances.transfer_keep_alive(dest=_fresh_account(), value=10**12).sign(charlie, nonce=used)
    with pytest.raises(RpcError) as caught:
        api.submit(stale)
    assert caught.value.code == 1010
    # The rejection resets the local count: the next nonce comes from the node again.
    assert api.nonces.peek(stale.signer) is None
    api.transfer(charlie, _fresh_account(), 10**12).raise_for_error()


def test_back_to_back_submissions_use_consecutive_nonces(api: ChainClient) -> None:
    dave = api.keypair("//Dave")
    start = api.balance(dave).nonce
    # Signed before any is submitted: only the local counter can tell them apart.
    signed = [
        api.tx.Balances.transfer_keep_alive(dest=_fresh_account(), value=10**12).sign(dave) for _ in range(3)
    ]
    assert [x.nonce for x in signed] == [start, start + 1, start + 2]
    results = [api.submit(x) for x in signed]
    assert all(r.ok for r in results)
    # Sent without waiting: the pool-aware system_accountNextIndex plus the local count.
    hashes = [
        api.send(api.tx.Balances.transfer_keep_alive(dest=_fresh_account(), value=10**12).sign(dave))
        for _ in range(3)
    ]
    assert len(set(hashes)) == 3
    seen: list[int] = []

    def reached(value: object) -> bool:
        assert isinstance(value, dict)
        seen.append(value["nonce"])
        return bool(value["nonce"] >= start + 6)

    api.query.System.Account.subscribe(dave, handler=reached, timeout=30)
    assert seen[-1] == start + 6


def test_mortal_extrinsic_and_finalized_wait(api: ChainClient) -> None:
    alice = api.keypair("//Alice")
    result = api.tx.Balances.transfer_keep_alive(dest=_fresh_account(), value=10**12).sign_and_submit(
        alice, mortal_period=64, wait_for="finalized"
    )
    assert result.ok and result.status == "finalized"


def test_payment_info_runtime_call_and_new_heads(api: ChainClient) -> None:
    alice = api.keypair("//Alice")
    info = api.tx.Balances.transfer_keep_alive(dest=_fresh_account(), value=10**12).payment_info(alice)
    assert info.partial_fee > 0
    nonce = api.runtime_call("AccountNonceApi", "account_nonce", [alice.ss58_address])
    assert nonce == api.balance(alice).nonce
    heads = []
    assert api.subscribe_new_heads(lambda h: heads.append(h) or True, timeout=30) == 1
    assert heads[0].number >= 1 and heads[0].hash == api.block_hash(heads[0].number)
    status = api.status()
    assert status.best_number >= status.finalized_number >= 0
    assert status.metadata_hash == api.metadata_hash


def test_descriptors_pin_the_metadata(backend: tuple[str, str], api: ChainClient) -> None:
    descriptors = Descriptors.from_json(api.descriptors.to_json())
    assert "Balances" in descriptors.pallet_names
    with ChainClient.connect(backend[1], descriptors=descriptors) as pinned:
        assert pinned.metadata_hash == descriptors.metadata_hash
        alice = pinned.keypair("//Alice")
        before = pinned.rpc("system_accountNextIndex", [alice.ss58_address])
        # As if the runtime had been upgraded under a client built for the old one.
        pinned._expected_hash = "0x" + "01" * 32
        with pytest.raises(IncompatibleMetadata, match="wanted 0x0101"):
            pinned.tx.Balances.transfer_keep_alive(dest=_fresh_account(), value=1).sign_and_submit(alice)
        assert pinned.rpc("system_accountNextIndex", [alice.ss58_address]) == before  # nothing sent
    with pytest.raises(IncompatibleMetadata, match="metadata hash"):
        ChainClient.connect(backend[1], metadata_hash="0x" + "00" * 32)


def _timeout_then_next_nonce(api: ChainClient) -> tuple[int, int]:
    charlie = api.keypair("//Charlie")
    pending = api.tx.Balances.transfer_keep_alive(dest=_fresh_account(), value=10**12).sign(charlie)
    with pytest.raises(SubmissionTimeout, match="wanted inBlock within 1s"):
        api.submit(pending, timeout=1.0)
    # Still in the pool: the local count keeps the next nonce from clashing with it.
    follow = api.tx.Balances.transfer_keep_alive(dest=_fresh_account(), value=10**12).sign(charlie)
    assert follow.nonce == pending.nonce + 1
    api.send(follow)
    return pending.nonce, follow.nonce


def test_timeout_when_no_block_is_built(backend: tuple[str, str], api: ChainClient, tmp_path: Path) -> None:
    if backend[0] == "devnode":
        # A node that seals once an hour: nothing is included while we wait.
        with _run_dev_node(tmp_path, "--block-time", "3600000") as url, ChainClient.connect(url) as slow:
            _timeout_then_next_nonce(slow)
            pool = slow.rpc("author_pendingExtrinsics")
            assert isinstance(pool, list) and len(pool) == 2
        return
    api.rpc("dev_setBlockBuildMode", ["Manual"])
    try:
        _, follow = _timeout_then_next_nonce(api)
        api.rpc("dev_newBlock", [{"count": 1}])
    finally:
        api.rpc("dev_setBlockBuildMode", ["Instant"])
    assert api.balance(api.keypair("//Charlie")).nonce == follow + 1


def test_invalid_status_ends_the_watch(backend: tuple[str, str], api: ChainClient) -> None:
    """Two extrinsics with one nonce in the pool: the loser's watch ends with invalid (stale).

    substrate-interface's own wait hangs forever on this status (notes/substrate.md 1.5.1).
    """
    _require_chopsticks(backend)
    bob = api.keypair("//Bob")
    api.rpc("dev_setBlockBuildMode", ["Manual"])
    other = ChainClient.connect(backend[1], timeout=30)
    twin_hex: list[str] = []

    def build_once_twin_is_pooled() -> None:
        # Build the block only when both are in the pool, so the twin is rejected by the pool
        # while we watch it (not at submission, which would be a 1010 answer instead).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = other.rpc("author_pendingExtrinsics")
            if twin_hex and isinstance(pending, list) and twin_hex[0] in pending:
                break
            time.sleep(0.05)
        other.rpc("dev_newBlock", [{"count": 1}])

    builder = threading.Thread(target=build_once_twin_is_pooled)
    try:
        first = api.tx.Balances.transfer_keep_alive(dest=_fresh_account(), value=10**12).sign(bob)
        api.send(first)
        twin = api.tx.Balances.transfer_keep_alive(dest=_fresh_account(), value=2 * 10**12).sign(
            bob, nonce=first.nonce
        )
        twin_hex.append(twin.hex)
        builder.start()
        with pytest.raises(TransactionRejected) as caught:
            api.submit(twin, timeout=60)
        assert caught.value.status == "invalid"
        assert caught.value.extrinsic_hash == twin.hash
    finally:
        if builder.ident is not None:  # started
            builder.join()
        other.close()
        api.rpc("dev_setBlockBuildMode", ["Instant"])
    assert api.balance(bob).nonce == first.nonce + 1


def test_cli_chain_commands(backend: tuple[str, str]) -> None:
    from typer.testing import CliRunner

    from phala_agents.cli._app import app

    url = backend[1]
    runner = CliRunner()
    status = runner.invoke(app, ["chain", "status", "--json", "--url", url])
    assert status.exit_code == 0, status.stderr
    assert json.loads(status.stdout)["dev_chain"] is True
    dest = _fresh_account().ss58_address
    env = {"PHALA_AGENT_SURI": "//Alice"}
    sent = runner.invoke(
        app, ["chain", "transfer", "--to", dest, "--amount", str(10**12), "--url", url, "--json"], env=env
    )
    assert sent.exit_code == 0, sent.stderr
    assert json.loads(sent.stdout)["ok"] is True
    assert "//Alice" not in sent.stdout + sent.stderr
    balance = runner.invoke(app, ["chain", "balance", dest, "--json", "--url", url])
    assert json.loads(balance.stdout)["free"] == 10**12
    failed = runner.invoke(
        app, ["chain", "transfer", "--to", dest, "--amount", str(10**30), "--url", url, "--json"], env=env
    )
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["error"] in INSUFFICIENT
    assert failed.stderr.startswith("Error: the transfer was included but failed with")
    events = runner.invoke(
        app, ["chain", "events", "--block", json.loads(sent.stdout)["block_hash"], "--json", "--url", url]
    )
    assert any(e["name"] == "Transfer" for e in json.loads(events.stdout)["events"])


def test_http_url_reads_but_refuses_to_submit(backend: tuple[str, str]) -> None:
    url = backend[1].replace("ws://", "http://")
    with ChainClient.connect(url, timeout=30) as api:
        alice = api.keypair("//Alice")
        assert api.balance(alice).free > 0
        address = alice.ss58_address
        before = api.rpc("system_accountNextIndex", [address])
        with pytest.raises(ClientError, match="wanted ws:// or wss://"):
            api.transfer(alice, _fresh_account(), 10**12)
        # Nothing was sent, so the reserved nonce was given back.
        signed = api.tx.Balances.transfer_keep_alive(dest=_fresh_account(), value=1).sign(alice)
        assert signed.nonce == before
