"""Our own watch over ``author_submitAndWatchExtrinsic``.

substrate-interface's ``submit_extrinsic(wait_for_inclusion=True)`` only reacts to ``inBlock``,
``finalized`` and the plain string ``"dropped"``: a status object such as ``{"invalid": ...}`` or
``{"usurped": ...}`` leaves it waiting forever, and it has no timeout (notes/substrate.md 1.5.1).
This watcher ends on every terminal status of the Substrate pool (``invalid``, ``dropped``,
``usurped``, ``finalityTimeout``) and on a deadline. The deadline is enforced two ways: the
socket's receive timeout is set to the time left (so a silent node cannot block us), and the time
is checked again on every notification (so a chatty node cannot either).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from substrateinterface import SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException
from websocket import WebSocketException, WebSocketTimeoutException

from phala_agents.client._rpc import translated
from phala_agents.client._types import WaitFor
from phala_agents.errors import SubmissionTimeout, TransactionRejected

_log = structlog.get_logger()

# Pool statuses that end a watch without the extrinsic being (or staying) included.
REJECTED_STATUSES = frozenset({"invalid", "dropped", "usurped", "finalityTimeout"})

Clock = Callable[[], float]

_UNWATCH_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchOutcome:
    """Where a watched extrinsic ended up."""

    status: WaitFor
    block_hash: str
    statuses: tuple[str, ...]


def parse_status(result: object) -> tuple[str, object]:
    """Split an ``author_extrinsicUpdate`` result into (status name, detail).

    Substrate sends plain strings (``"ready"``, ``"future"``, ``"dropped"``, ``"invalid"``) or
    one-key objects (``{"inBlock": hash}``, ``{"usurped": hash}``, ``{"broadcast": [...]}``);
    chopsticks also sends ``{"invalid": {"stale": null}}``.
    """
    if isinstance(result, str):
        return result, None
    if isinstance(result, dict) and len(result) == 1:
        ((name, detail),) = result.items()
        return str(name), detail
    return "unknown", result


def describe_rejection(status: str, detail: object) -> str:
    """A human reason for a rejected status, e.g. ``invalid (stale)``."""
    if detail is None:
        return status
    if isinstance(detail, dict) and detail and all(v is None for v in detail.values()):
        return f"{status} ({', '.join(str(k) for k in detail)})"
    return f"{status} ({detail})"


@contextlib.contextmanager
def socket_timeout(substrate: SubstrateInterface, seconds: float) -> Iterator[Callable[[float], None]]:
    """Set the websocket's receive timeout for the block; yields a setter to shrink it later."""
    websocket = getattr(getattr(substrate, "transport", None), "websocket", None)
    settimeout = getattr(websocket, "settimeout", None)
    gettimeout = getattr(websocket, "gettimeout", None)
    previous = gettimeout() if callable(gettimeout) else None

    def update(remaining: float) -> None:
        if callable(settimeout):
            # A zero timeout would make the socket non-blocking; keep a small positive floor.
            settimeout(max(remaining, 0.001))

    update(seconds)
    try:
        yield update
    finally:
        if callable(settimeout):
            settimeout(previous)


def _drop_queued(substrate: Any, subscription_id: object) -> None:
    """Forget notifications of a finished subscription that the transport already queued.

    The websocket transport keeps every message it has not matched yet in a private list; late
    notifications of a subscription we stopped would otherwise stay there for good.
    """
    queue = getattr(getattr(substrate, "transport", None), "_WebsocketTransport__rpc_message_queue", None)
    if not isinstance(queue, list):
        return
    queue[:] = [
        m
        for m in queue
        if not (isinstance(m, dict) and (m.get("params") or {}).get("subscription") == subscription_id)
    ]


def submit_and_watch(
    substrate: SubstrateInterface,
    extrinsic_hex: str,
    *,
    extrinsic_hash: str,
    wait_for: WaitFor,
    timeout: float,
    clock: Clock = time.monotonic,
) -> WatchOutcome:
    """Submit a signed extrinsic and follow it until ``wait_for``, a rejection or the deadline.

    Raises ``RpcError`` when the node refuses the submission itself (e.g. 1010 Invalid
    Transaction), ``TransactionRejected`` on invalid / dropped / usurped / finalityTimeout,
    and ``SubmissionTimeout`` when the deadline passes first.
    """
    deadline = clock() + timeout
    seen: list[str] = []
    state: dict[str, object] = {}

    with socket_timeout(substrate, timeout) as set_remaining:

        def handler(
            message: dict[str, Any], update_nr: int, subscription_id: object
        ) -> dict[str, object] | None:
            del update_nr
            state["subscription"] = subscription_id
            params = message.get("params") or {}
            name, detail = parse_status(params.get("result"))
            seen.append(name)
            _log.debug("extrinsic_status", extrinsic_hash=extrinsic_hash, status=name)
            if name == "inBlock":
                state["in_block"] = detail
                if wait_for == "inBlock":
                    return {"status": "inBlock", "block_hash": detail}
            elif name == "finalized":
                return {"status": "finalized", "block_hash": detail}
            elif name in REJECTED_STATUSES:
                return {"status": name, "detail": detail, "rejected": True}
            remaining = deadline - clock()
            if remaining <= 0:
                return {"status": "timeout"}
            set_remaining(remaining)
            return None

        with translated("author_submitAndWatchExtrinsic"):
            try:
                outcome = substrate.rpc_request(
                    "author_submitAndWatchExtrinsic", [extrinsic_hex], result_handler=handler
                )
            except WebSocketTimeoutException:
                outcome = {"status": "timeout"}

        subscription = state.get("subscription")
        if subscription is not None:
            # Bounded: a node that stalled must not make the unwatch hang past the deadline.
            set_remaining(min(_UNWATCH_TIMEOUT, timeout))
            _unwatch(substrate, subscription)

    status = str(outcome.get("status"))
    if status == "timeout":
        where = f", last status {seen[-1]}" if seen else ", no status received"
        raise SubmissionTimeout(f"extrinsic {extrinsic_hash}: wanted {wait_for} within {timeout:g}s{where}")
    if outcome.get("rejected"):
        reason = describe_rejection(status, outcome.get("detail"))
        _log.info("extrinsic_rejected", extrinsic_hash=extrinsic_hash, status=status)
        raise TransactionRejected(
            f"extrinsic {extrinsic_hash}: the pool reported {reason}",
            status=status,
            reason=reason,
            extrinsic_hash=extrinsic_hash,
        )
    block_hash = outcome.get("block_hash")
    if not isinstance(block_hash, str):
        raise TransactionRejected(
            f"extrinsic {extrinsic_hash}: status {status} without a block hash",
            status=status,
            reason="malformed status",
            extrinsic_hash=extrinsic_hash,
        )
    return WatchOutcome(
        status="finalized" if status == "finalized" else "inBlock",
        block_hash=block_hash,
        statuses=tuple(seen),
    )


def _unwatch(substrate: Any, subscription: object) -> None:
    """Stop the subscription; after a terminal status the node may already have closed it."""
    with contextlib.suppress(SubstrateRequestException, WebSocketException, OSError):
        substrate.rpc_request("author_unwatchExtrinsic", [subscription])
    _drop_queued(substrate, subscription)


__all__ = ["WatchOutcome", "describe_rejection", "parse_status", "submit_and_watch"]
