"""The gas meter: reserve the worst case before a call, charge the real usage after it.

A pure object (no I/O, no clock), safe to share between threads and asyncio tasks: every state
change happens under one lock and takes a few microseconds, so the lock never blocks an event loop
for long.

Money is an ``int`` in the chain's smallest unit. Prices are per 1,000 tokens; a call costs

    charge = ceil((input_tokens * per_1k_input + output_tokens * per_1k_output) / 1000)

rounded up once, over the sum (never per token or per line), so a call that used any priced
token costs at least 1 unit and the worker is never paid less than the exact price. The cost is
monotone in both token counts, which is what makes "the most output tokens a budget allows" exact.

Per caller the meter keeps three totals::

    available = escrow (on chain, injected) - reserved (open reservations, uncharged part)
                                             - unsettled (charged, receipt not yet settled)

``reserve`` refuses unless the worst case fits both the authorization's ``max_charge`` and
``available``, checked and booked under the lock, so concurrent calls can never overspend (the
check-then-charge race that LiteLLM's budgets had). ``charge`` books the metered cost, capped at
the reservation; ``release`` returns the rest. The chain follower reports a new escrow with
``set_escrow`` and finalized settlements with ``mark_settled`` (or both at once with ``sync``,
which is the order-safe way: a settlement lowers the escrow and the unsettled total together).

An agent that calls another agent gets a child reservation ``carve``d from its own uncharged
budget (DESIGN.md section 5.6): the same caller pays, the escrow is booked once, and the child's
unspent rest returns to the parent (or to the caller once the parent is charged).
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

from phala_agents.errors import InsufficientBudget

__all__ = [
    "CallerId",
    "Charge",
    "GasMeter",
    "Prices",
    "Reservation",
    "Usage",
]

#: The caller's account: the 32-byte AccountId, or its SS58 string in tests and tools.
CallerId: TypeAlias = bytes | str

_UNLIMITED = sys.maxsize


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


@dataclass(frozen=True, slots=True, kw_only=True)
class Prices:
    """An agent's prices in the chain's smallest unit per 1,000 tokens."""

    per_1k_input: int
    per_1k_output: int

    def __post_init__(self) -> None:
        for field in ("per_1k_input", "per_1k_output"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"prices field {field} is {value!r}, wanted an int >= 0")

    def cost(self, *, input_tokens: int, output_tokens: int) -> int:
        """The charge for this usage, rounded up once over the sum."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError(f"token counts are {input_tokens}/{output_tokens}, wanted >= 0")
        return _ceil_div(input_tokens * self.per_1k_input + output_tokens * self.per_1k_output, 1000)

    def max_output_tokens(self, *, budget: int, input_tokens: int) -> int:
        """The most output tokens with ``cost(input_tokens, n) <= budget`` (-1 if the input alone exceeds it).

        Exact because ``ceil(x / 1000) <= budget`` iff ``x <= 1000 * budget`` for integer ``x``.
        A zero output price allows ``sys.maxsize``.
        """
        room = 1000 * budget - input_tokens * self.per_1k_input
        if room < 0:
            return -1
        if self.per_1k_output == 0:
            return _UNLIMITED
        return room // self.per_1k_output


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Tokens a call used. ``estimated`` when it was counted locally, not reported by the upstream."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    estimated: bool = False

    def __post_init__(self) -> None:
        for field in ("prompt_tokens", "completion_tokens", "cached_tokens"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"usage field {field} is {value!r}, wanted an int >= 0")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    """A handle on booked budget. ``amount`` is the worst case that was reserved."""

    id: str
    caller: CallerId
    amount: int
    max_charge: int
    prices: Prices


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """What a call costs. ``capped`` when the metered cost exceeded the reservation."""

    reservation_id: str
    caller: CallerId
    usage: Usage
    amount: int
    metered: int
    capped: bool

    @property
    def estimated(self) -> bool:
        return self.usage.estimated


@dataclass(slots=True)
class _Account:
    escrow: int = 0
    reserved: int = 0
    unsettled: int = 0


@dataclass(slots=True)
class _Open:
    reservation: Reservation
    budget: int  # what this reservation may still charge: its amount minus budget carved for children
    parent: str | None = None
    charged: int | None = None


class GasMeter:
    """Budget bookkeeping for one worker. All methods are thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[CallerId, _Account] = {}
        self._open: dict[str, _Open] = {}
        # receipt (= reservation) id -> (caller, charged amount) until its settlement is final.
        self._unsettled: dict[str, tuple[CallerId, int]] = {}
        self._ids = itertools.count(1)

    # --- chain side ---------------------------------------------------------------------------

    def set_escrow(self, caller: CallerId, amount: int) -> None:
        """The caller's escrow on chain (finalized), as reported by the chain follower."""
        if amount < 0:
            raise ValueError(f"escrow is {amount}, wanted >= 0")
        with self._lock:
            self._account(caller).escrow = amount

    def mark_settled(self, receipt_id: str) -> int:
        """A receipt's settlement is final: its charge leaves the unsettled total. Idempotent.

        Call it after (or together with, see ``sync``) the escrow update that took the charge,
        otherwise the charge is briefly counted as available again.
        """
        with self._lock:
            return self._settle(receipt_id)

    def sync(self, caller: CallerId, escrow: int, settled: Iterable[str] = ()) -> None:
        """Set the escrow and mark receipts settled in one step (the order-safe form)."""
        if escrow < 0:
            raise ValueError(f"escrow is {escrow}, wanted >= 0")
        with self._lock:
            self._account(caller).escrow = escrow
            for receipt_id in settled:
                self._settle(receipt_id)

    def restore_unsettled(self, caller: CallerId, receipt_id: str, amount: int) -> None:
        """At start-up, re-book a charge from the ledger whose receipt is not settled yet."""
        with self._lock:
            if receipt_id in self._unsettled:
                return
            self._unsettled[receipt_id] = (caller, amount)
            self._account(caller).unsettled += amount

    # --- call side ----------------------------------------------------------------------------

    @property
    def open_reservations(self) -> int:
        """Reservations booked and not yet released (calls in flight, children included)."""
        with self._lock:
            return len(self._open)

    def available(self, caller: CallerId) -> int:
        """Escrow minus this worker's open reservations and unsettled charges."""
        with self._lock:
            account = self._accounts.get(caller)
            if account is None:
                return 0
            return account.escrow - account.reserved - account.unsettled

    def reserve(
        self,
        caller: CallerId,
        max_charge: int,
        worst_case: int,
        *,
        prices: Prices,
        reservation_id: str | None = None,
    ) -> Reservation:
        """Book ``worst_case`` of the caller's budget before any work, or raise ``InsufficientBudget``.

        ``worst_case`` is ``prices.cost(prompt estimate, max output tokens)``. The id becomes the
        receipt id (default: a process-unique counter; pass a stable one in production).
        """
        if worst_case < 0 or max_charge < 0:
            raise ValueError(f"worst_case/max_charge are {worst_case}/{max_charge}, wanted >= 0")
        if worst_case > max_charge:
            raise InsufficientBudget(
                f"worst case charge is {worst_case}, exceeds the authorization's max_charge {max_charge}"
            )
        with self._lock:
            account = self._account(caller)
            available = account.escrow - account.reserved - account.unsettled
            if worst_case > available:
                raise InsufficientBudget(
                    f"available escrow is {available} (escrow {account.escrow} - reserved "
                    f"{account.reserved} - unsettled {account.unsettled}), wanted {worst_case}"
                )
            rid = reservation_id if reservation_id is not None else f"r{next(self._ids)}"
            if rid in self._open or rid in self._unsettled:
                raise ValueError(f"reservation id {rid!r} is already in use")
            reservation = Reservation(
                id=rid, caller=caller, amount=worst_case, max_charge=max_charge, prices=prices
            )
            account.reserved += worst_case
            self._open[rid] = _Open(reservation, budget=worst_case)
            return reservation

    def carve(
        self,
        parent: Reservation,
        amount: int,
        *,
        prices: Prices,
        reservation_id: str | None = None,
    ) -> Reservation:
        """Reserve for a child call (an agent calling an agent) out of the parent's budget.

        The child is paid by the same caller; its budget moves from the parent's uncharged
        budget, so the escrow is not checked (or booked) twice. What the child does not spend
        goes back to the parent on ``release`` while the parent is uncharged, else to the caller.
        """
        if amount < 0:
            raise ValueError(f"carved amount is {amount}, wanted >= 0")
        with self._lock:
            entry = self._open.get(parent.id)
            if entry is None or entry.charged is not None:
                raise RuntimeError(
                    f"reservation {parent.id!r} is not open and uncharged; cannot carve from it"
                )
            if amount > entry.budget:
                raise InsufficientBudget(
                    f"parent reservation {parent.id} has {entry.budget} left, wanted {amount} for a child"
                )
            rid = reservation_id if reservation_id is not None else f"r{next(self._ids)}"
            if rid in self._open or rid in self._unsettled:
                raise ValueError(f"reservation id {rid!r} is already in use")
            child = Reservation(
                id=rid, caller=entry.reservation.caller, amount=amount, max_charge=amount, prices=prices
            )
            entry.budget -= amount
            self._open[rid] = _Open(child, budget=amount, parent=parent.id)
            return child

    def output_tokens_allowed(self, reservation: Reservation, *, prompt_tokens: int) -> int:
        """How many output tokens the reservation still pays for, given the prompt's real size.

        A stream is cut when it has delivered this many tokens. 0 when the prompt alone uses it up,
        or the reservation is closed. Budget carved for child calls is not available here.
        """
        with self._lock:
            entry = self._open.get(reservation.id)
            if entry is None or entry.charged is not None:
                return 0
            budget = entry.budget
        return max(reservation.prices.max_output_tokens(budget=budget, input_tokens=prompt_tokens), 0)

    def charge(self, reservation: Reservation, usage: Usage) -> Charge:
        """Meter the real usage; the amount never exceeds the reservation's budget. Once per reservation.

        The booked reservation is looked up by id, so only the meter's own record of the budget
        and prices counts, never fields of the handle passed in.
        """
        with self._lock:
            entry = self._open.get(reservation.id)
            if entry is None:
                raise RuntimeError(f"reservation {reservation.id!r} is not open (released or unknown)")
            if entry.charged is not None:
                raise RuntimeError(f"reservation {reservation.id!r} is already charged")
            booked = entry.reservation
            metered = booked.prices.cost(
                input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens
            )
            amount = min(metered, entry.budget)
            entry.charged = amount
            account = self._account(booked.caller)
            account.reserved -= amount
            account.unsettled += amount
            self._unsettled[booked.id] = (booked.caller, amount)
        return Charge(
            reservation_id=booked.id,
            caller=booked.caller,
            usage=usage,
            amount=amount,
            metered=metered,
            capped=metered > amount,
        )

    def release(self, reservation: Reservation) -> int:
        """Close the reservation and return the uncharged rest (all of it if never charged).

        A child's rest goes back to its parent while the parent is open and uncharged.
        """
        with self._lock:
            entry = self._open.pop(reservation.id, None)
            if entry is None:
                return 0
            rest = entry.budget - (entry.charged or 0)
            parent = self._open.get(entry.parent) if entry.parent is not None else None
            if parent is not None and parent.charged is None:
                parent.budget += rest
            else:
                self._account(entry.reservation.caller).reserved -= rest
            return rest

    def void_charge(self, reservation: Reservation) -> int:
        """Drop a charge whose receipt could not be recorded (it can never settle). Returns it."""
        with self._lock:
            return self._settle(reservation.id)

    # --- internals (lock held) ----------------------------------------------------------------

    def _account(self, caller: CallerId) -> _Account:
        account = self._accounts.get(caller)
        if account is None:
            account = self._accounts[caller] = _Account()
        return account

    def _settle(self, receipt_id: str) -> int:
        booked = self._unsettled.pop(receipt_id, None)
        if booked is None:
            return 0
        caller, amount = booked
        self._account(caller).unsettled -= amount
        return amount
