"""The extrinsic watcher: every terminal pool status and the deadline, over a fake websocket."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from chain_fakews import FakeWebSocket, Reply
from substrateinterface import SubstrateInterface

from phala_agents.client import submit_and_watch
from phala_agents.client._watch import describe_rejection, parse_status
from phala_agents.errors import RpcError, SubmissionTimeout, TransactionRejected

BLOCK = "0x" + "ab" * 32
FINAL = "0x" + "cd" * 32
XT_HASH = "0x" + "11" * 32


def _node(
    statuses: list[Any], *, error: dict[str, Any] | None = None
) -> tuple[SubstrateInterface, FakeWebSocket]:
    ws = FakeWebSocket(
        {
            "author_submitAndWatchExtrinsic": lambda _p: Reply(
                result="sub-1", error=error, notifications=statuses
            ),
            "author_unwatchExtrinsic": lambda _p: Reply(True),
        }
    )
    return SubstrateInterface(websocket=ws), ws


def _watch(substrate: SubstrateInterface, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"extrinsic_hash": XT_HASH, "wait_for": "inBlock", "timeout": 5.0}
    options.update(kwargs)
    return submit_and_watch(substrate, "0x00", **options)


def test_in_block_returns_block_and_unwatches() -> None:
    substrate, ws = _node(["future", "ready", {"broadcast": ["peer"]}, {"inBlock": BLOCK}])
    outcome = _watch(substrate)
    assert outcome.status == "inBlock"
    assert outcome.block_hash == BLOCK
    assert outcome.statuses == ("future", "ready", "broadcast", "inBlock")
    assert ws.methods()[-2:] == ["author_submitAndWatchExtrinsic", "author_unwatchExtrinsic"]
    assert ws.sent[-1]["params"] == ["sub-1"]


def test_finalized_wait_goes_past_in_block_and_retracted() -> None:
    substrate, _ = _node(
        ["ready", {"inBlock": BLOCK}, {"retracted": BLOCK}, {"inBlock": FINAL}, {"finalized": FINAL}]
    )
    outcome = _watch(substrate, wait_for="finalized")
    assert outcome.status == "finalized"
    assert outcome.block_hash == FINAL


@pytest.mark.parametrize(
    ("status", "wanted_status", "wanted_reason"),
    [
        ("invalid", "invalid", "invalid"),
        ({"invalid": {"stale": None}}, "invalid", "invalid (stale)"),
        ("dropped", "dropped", "dropped"),
        ({"dropped": None}, "dropped", "dropped"),
        ({"usurped": FINAL}, "usurped", f"usurped ({FINAL})"),
        ({"finalityTimeout": BLOCK}, "finalityTimeout", f"finalityTimeout ({BLOCK})"),
    ],
)
def test_terminal_statuses_raise_rejected(status: Any, wanted_status: str, wanted_reason: str) -> None:
    # substrate-interface's own wait hangs on these (notes/substrate.md 1.5.1); ours ends.
    substrate, ws = _node(["ready", status])
    with pytest.raises(TransactionRejected, match="the pool reported") as caught:
        _watch(substrate, wait_for="finalized")
    assert caught.value.status == wanted_status
    assert caught.value.reason == wanted_reason
    assert caught.value.extrinsic_hash == XT_HASH
    assert "author_unwatchExtrinsic" in ws.methods()


def test_submission_rpc_error_keeps_code_message_data() -> None:
    substrate, _ = _node(
        [], error={"code": 1010, "message": "Invalid Transaction", "data": "Transaction is outdated"}
    )
    with pytest.raises(RpcError) as caught:
        _watch(substrate)
    assert (caught.value.code, caught.value.message, caught.value.data) == (
        1010,
        "Invalid Transaction",
        "Transaction is outdated",
    )


def test_silent_node_times_out_on_the_socket() -> None:
    substrate, ws = _node([])  # subscribed, then nothing
    with pytest.raises(SubmissionTimeout, match="wanted inBlock within 2s, no status received"):
        _watch(substrate, timeout=2.0)
    # The receive timeout was set to the watch's deadline, then restored.
    assert ws.timeouts[0] == 2.0
    assert ws.gettimeout() == 30.0


def test_chatty_node_times_out_on_the_clock() -> None:
    substrate, ws = _node(["ready"])
    ws.endless = lambda: {
        "jsonrpc": "2.0",
        "method": "author_extrinsicUpdate",
        "params": {"subscription": "sub-1", "result": {"broadcast": []}},
    }
    ticks = itertools.count()
    with pytest.raises(SubmissionTimeout, match="last status broadcast"):
        _watch(substrate, timeout=10.0, clock=lambda: float(next(ticks)))
    # Each notification shrank the socket timeout to what was left.
    shrinking = [t for t in ws.timeouts if t is not None and t not in (2.0, 30.0)]
    assert shrinking == sorted(shrinking, reverse=True)


def test_late_notifications_of_a_finished_watch_are_dropped() -> None:
    substrate, _ = _node(["ready", {"inBlock": BLOCK}, {"finalized": BLOCK}])
    _watch(substrate)
    queue = substrate.transport._WebsocketTransport__rpc_message_queue
    assert all((m.get("params") or {}).get("subscription") != "sub-1" for m in queue)


def test_parse_and_describe() -> None:
    assert parse_status("ready") == ("ready", None)
    assert parse_status({"inBlock": BLOCK}) == ("inBlock", BLOCK)
    assert parse_status([1, 2]) == ("unknown", [1, 2])
    assert describe_rejection("invalid", None) == "invalid"
    assert describe_rejection("invalid", {"payment": None}) == "invalid (payment)"
    assert describe_rejection("usurped", "0x12") == "usurped (0x12)"
