"""The settlement loop: pending receipts go to ``Billing.settle`` in batches, until final.

A batch is due when ``max_count`` receipts are pending or the oldest has waited ``max_age``
seconds (``Ledger.due_batch``). The loop marks the batch ``submitted``, signs one ``settle``
extrinsic with the worker key and waits for it to be **finalized**; then, per receipt:

- ``Settled`` or ``AlreadySettled`` (final): the receipt is settled in the ledger (the chain
  follower, ``worker/sync.py``, does the same from the block's events and moves the meter);
- ``SettlementFailed`` with a transient reason (``InsufficientEscrow``, ``PayoutFailed``): back
  to ``pending`` and retried after a backoff;
- ``SettlementFailed`` with a permanent reason (bad signature, expired, wrong worker...): the
  receipt becomes ``failed`` in the ledger with the reason (kept as evidence, never resubmitted,
  also after a restart), and its charge leaves the meter's unsettled total (it will never be paid);
- the extrinsic failed, timed out or was rejected: the batch goes back to ``pending`` and is
  retried with exponential backoff.

Idempotent by construction: the chain ignores a receipt id it has settled (``AlreadySettled``),
so a batch resubmitted after a crash or a lost answer never charges twice. At start-up every
``submitted`` receipt is put back to ``pending`` (the process that submitted it is gone).
The chain answers ``AlreadySettled`` for ``SettledRetention`` blocks (14,400 on dev) after the
receipt's settle window closed, then prunes it (billing.md "Pruning"): a receipt resubmitted
after a longer outage fails as ``Expired`` and is marked ``failed`` here although it may have
been paid. Nothing is charged twice either way; only that ledger label is then uncertain.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from phala_agents.client import ChainClient
from phala_agents.errors import ClientError, ReceiptError
from phala_agents.worker.authorization import SignedReceipt, Sr25519Signer, settle_call_args
from phala_agents.worker.ledger import Ledger, LedgerReceipt
from phala_agents.worker.meter import GasMeter

__all__ = ["TRANSIENT_FAILURES", "SettlementConfig", "Settler"]

log = structlog.get_logger(__name__)

TRANSIENT_FAILURES = frozenset({"InsufficientEscrow", "PayoutFailed"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SettlementConfig:
    max_count: int = 100
    max_age: float = 2.0
    interval: float = 0.1
    timeout: float = 60.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0


class Settler:
    """Runs the settlement loop in a thread (``start``/``stop``) or one round at a time (``run_once``)."""

    def __init__(
        self,
        *,
        url: str,
        keypair: Sr25519Signer,
        ledger: Ledger,
        meter: GasMeter,
        config: SettlementConfig | None = None,
        connect: Callable[[str], ChainClient] = ChainClient.connect,
    ) -> None:
        self._url = url
        self._keypair = keypair
        self._ledger = ledger
        self._meter = meter
        self.config = config or SettlementConfig()
        self._connect = connect
        self._client: ChainClient | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.settled = 0
        self.submitted_batches = 0

    def start(self) -> None:
        self._client = self._connect(self._url)
        # Whatever a previous process submitted is resubmitted: the chain answers AlreadySettled.
        stale = [r.id for r in self._ledger.unsettled() if r.state == "submitted"]
        if stale:
            self._ledger.mark_pending(stale)
            log.info("settlement_resubmit", receipts=len(stale))
        self._thread = threading.Thread(target=self._run, name="phala-worker-settle", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.timeout + 5)
        if self._client is not None:
            self._client.close()

    def poke(self) -> None:
        """Look for a due batch now (e.g. the demo after its call)."""
        self._wake.set()

    def _run(self) -> None:
        backoff = self.config.backoff_initial
        while not self._stop.is_set():
            try:
                did = self.run_once()
                backoff = self.config.backoff_initial
            except (ClientError, OSError, TimeoutError) as exc:
                log.warning("settlement_retry", error=str(exc), backoff=backoff)
                self._stop.wait(backoff)
                backoff = min(self.config.backoff_max, backoff * 2)
                continue
            if not did:
                self._wake.wait(self.config.interval)
                self._wake.clear()

    def _due(self) -> list[LedgerReceipt]:
        batch = self._ledger.due_batch(max_count=self.config.max_count, max_age=self.config.max_age)
        return batch  # failed receipts are no longer pending: due_batch never returns them

    def run_once(self) -> bool:
        """Settle one due batch; False when none was due. Raises on transport failures (batch retried)."""
        batch = self._due()
        if not batch:
            return False
        client = self._client
        if client is None:
            raise RuntimeError("settler not started")
        receipts = []
        for stored in batch:
            try:
                receipts.append(SignedReceipt.from_bytes(stored.signed).receipt)
            except ReceiptError:
                log.error("settlement_unreadable_receipt", receipt_id=stored.id)
                self._ledger.mark_failed({stored.id: "UnreadableReceipt"})
                self._meter.mark_settled(stored.id)
        ids = ["0x" + r.receipt_id.hex() for r in receipts]
        if not ids:
            return True
        self._ledger.mark_submitted(ids)
        self.submitted_batches += 1
        try:
            result = client.sign_and_submit(
                "Billing",
                "settle",
                settle_call_args(receipts),
                self._keypair,
                wait_for="finalized",
                timeout=self.config.timeout,
            )
        except BaseException:
            self._ledger.mark_pending(ids)
            raise
        if not result.ok:
            self._ledger.mark_pending(ids)
            raise ClientError(f"Billing.settle: found {result.error}, wanted success")
        final: list[str] = []
        retry: list[str] = []
        failed: dict[str, str] = {}
        for event in result.events:
            if event.pallet != "Billing" or not isinstance(event.attributes, dict):
                continue
            rid = str(event.attributes.get("receipt_id", "")).lower()
            if event.name in ("Settled", "AlreadySettled"):
                final.append(rid)
            elif event.name == "SettlementFailed":
                reason = event.attributes.get("reason")
                reason_name = next(iter(reason)) if isinstance(reason, dict) else str(reason)
                if reason_name in TRANSIENT_FAILURES:
                    retry.append(rid)
                else:
                    failed[rid] = reason_name
                log.warning("settlement_receipt_failed", receipt_id=rid, reason=reason_name)
        self._ledger.mark_settled(final)
        if failed:
            # Ledger first: if the process dies between the two, the receipt is already out of
            # the queue and a restart re-books only pending/submitted receipts in the meter.
            self._ledger.mark_failed(failed)
            for rid in failed:
                self._meter.mark_settled(rid)
        # Anything neither settled nor permanently failed goes back for another round.
        self._ledger.mark_pending([rid for rid in ids if rid not in final and rid not in failed])
        self.settled += len(final)
        log.info(
            "settlement_batch",
            receipts=len(ids),
            settled=len(final),
            failed=len(failed),
            retry=len(retry),
            block=result.block_number,
            fee=result.fee,
        )
        if retry and len(retry) == len(ids):
            # Nothing moved: wait before trying the same receipts again.
            raise ClientError(f"Billing.settle: all {len(retry)} receipts failed transiently")
        return True
