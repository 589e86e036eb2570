"""The gas meter as a pure object: arithmetic, refusals, and no overspending under concurrency."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phala_agents.errors import InsufficientBudget
from phala_agents.worker.meter import GasMeter, Prices, Usage

PRICES = Prices(per_1k_input=3, per_1k_output=7)


def test_cost_rounds_up_once_over_the_sum() -> None:
    assert PRICES.cost(input_tokens=0, output_tokens=0) == 0
    assert PRICES.cost(input_tokens=1, output_tokens=0) == 1  # 0.003 -> 1
    assert PRICES.cost(input_tokens=1000, output_tokens=1000) == 10
    # 500*3 + 500*7 = 5000 -> exactly 5; per-line rounding would give 2 + 4 = 6
    assert PRICES.cost(input_tokens=500, output_tokens=500) == 5
    assert PRICES.cost(input_tokens=334, output_tokens=0) == 2  # 1.002 -> 2


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a shared, loaded machine
@given(
    p_in=st.integers(0, 10**6),
    p_out=st.integers(1, 10**6),
    budget=st.integers(0, 10**7),
    tokens_in=st.integers(0, 10**5),
)
def test_max_output_tokens_is_exact(p_in: int, p_out: int, budget: int, tokens_in: int) -> None:
    prices = Prices(per_1k_input=p_in, per_1k_output=p_out)
    n = prices.max_output_tokens(budget=budget, input_tokens=tokens_in)
    if n < 0:
        assert prices.cost(input_tokens=tokens_in, output_tokens=0) > budget
    else:
        assert prices.cost(input_tokens=tokens_in, output_tokens=n) <= budget
        assert prices.cost(input_tokens=tokens_in, output_tokens=n + 1) > budget


def test_free_output_is_unlimited() -> None:
    prices = Prices(per_1k_input=1, per_1k_output=0)
    assert prices.max_output_tokens(budget=1, input_tokens=10) > 10**12


def test_bad_prices_and_usage_are_caller_bugs() -> None:
    with pytest.raises(ValueError, match="per_1k_output is -1"):
        Prices(per_1k_input=1, per_1k_output=-1)
    with pytest.raises(ValueError, match="completion_tokens"):
        Usage(prompt_tokens=1, completion_tokens=-2)


def test_reserve_charge_release_books_every_unit() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", 1000)
    worst = PRICES.cost(input_tokens=100, output_tokens=100)  # 1
    r = meter.reserve("alice", max_charge=50, worst_case=40, prices=PRICES)
    assert worst == 1
    assert meter.available("alice") == 960
    charge = meter.charge(r, Usage(prompt_tokens=1000, completion_tokens=2000))
    assert (charge.amount, charge.metered, charge.capped) == (17, 17, False)
    assert meter.available("alice") == 960  # 17 unsettled + 23 still reserved
    assert meter.release(r) == 23
    assert meter.available("alice") == 983
    assert meter.release(r) == 0  # idempotent
    meter.sync("alice", 983, settled=[r.id])
    assert meter.available("alice") == 983
    assert meter.mark_settled(r.id) == 0


def test_charge_never_exceeds_the_reservation() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", 1000)
    r = meter.reserve("alice", max_charge=10, worst_case=5, prices=PRICES)
    charge = meter.charge(r, Usage(prompt_tokens=10_000, completion_tokens=10_000, estimated=True))
    assert (charge.amount, charge.metered, charge.capped, charge.estimated) == (5, 100, True, True)
    assert meter.release(r) == 0
    assert meter.available("alice") == 995
    with pytest.raises(RuntimeError, match="not open"):
        meter.charge(r, Usage(prompt_tokens=1, completion_tokens=1))


def test_double_charge_is_a_bug() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", 100)
    r = meter.reserve("alice", 10, 10, prices=PRICES)
    meter.charge(r, Usage(prompt_tokens=1, completion_tokens=1))
    with pytest.raises(RuntimeError, match="already charged"):
        meter.charge(r, Usage(prompt_tokens=1, completion_tokens=1))


def test_release_without_charge_refunds_everything() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", 100)
    r = meter.reserve("alice", 60, 60, prices=PRICES)
    assert meter.available("alice") == 40
    assert meter.release(r) == 60
    assert meter.available("alice") == 100


def test_refusals_say_found_and_wanted() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", 100)
    wanted = "worst case charge is 11, exceeds the authorization's max_charge 10"
    with pytest.raises(InsufficientBudget, match=wanted):
        meter.reserve("alice", 10, 11, prices=PRICES)
    meter.reserve("alice", 70, 70, prices=PRICES)
    with pytest.raises(
        InsufficientBudget,
        match=r"available escrow is 30 \(escrow 100 - reserved 70 - unsettled 0\), wanted 31",
    ):
        meter.reserve("alice", 31, 31, prices=PRICES)
    with pytest.raises(InsufficientBudget, match="available escrow is 0"):
        meter.reserve("unknown", 1, 1, prices=PRICES)
    assert meter.available("unknown") == 0


def test_unsettled_charges_count_until_settled_and_restore_after_restart() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", 100)
    r = meter.reserve("alice", 100, 100, prices=PRICES, reservation_id="rcpt-1")
    meter.charge(r, Usage(prompt_tokens=10_000, completion_tokens=10_000))
    meter.release(r)
    with pytest.raises(InsufficientBudget):
        meter.reserve("alice", 1, 1, prices=PRICES)
    # Escrow update first, then settlement: briefly under-counted, never over-counted.
    meter.set_escrow("alice", 0)
    assert meter.available("alice") == -100
    meter.mark_settled("rcpt-1")
    assert meter.available("alice") == 0

    restarted = GasMeter()
    restarted.set_escrow("bob", 50)
    restarted.restore_unsettled("bob", "rcpt-9", 30)
    restarted.restore_unsettled("bob", "rcpt-9", 30)
    assert restarted.available("bob") == 20


def test_reservation_ids_are_unique() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", 100)
    meter.reserve("alice", 1, 1, prices=PRICES, reservation_id="x")
    with pytest.raises(ValueError, match="already in use"):
        meter.reserve("alice", 1, 1, prices=PRICES, reservation_id="x")


def test_stream_budget_counts_the_real_prompt() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", 10_000)
    prices = Prices(per_1k_input=1000, per_1k_output=2000)  # 1 unit per input token, 2 per output token
    r = meter.reserve("alice", 100, 100, prices=prices)
    assert meter.output_tokens_allowed(r, prompt_tokens=20) == 40
    assert meter.output_tokens_allowed(r, prompt_tokens=100) == 0
    assert meter.output_tokens_allowed(r, prompt_tokens=500) == 0


# --- concurrency: 200 calls, escrow for 50 ------------------------------------------------------

WORST = 20
ESCROW = 50 * WORST


def _one_call(meter: GasMeter) -> int | None:
    try:
        r = meter.reserve("alice", WORST, WORST, prices=PRICES)
    except InsufficientBudget:
        return None
    # Charge exactly the worst case (7 per 1k output: 2858 tokens cost 20.006 -> capped at 20).
    charge = meter.charge(r, Usage(prompt_tokens=0, completion_tokens=2858))
    meter.release(r)
    return charge.amount


def _check(meter: GasMeter, results: list[int | None]) -> None:
    accepted = [a for a in results if a is not None]
    assert len(results) == 200
    assert len(accepted) == 50
    assert sum(accepted) == ESCROW
    assert meter.available("alice") == 0


def test_200_concurrent_async_calls_never_overspend() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", ESCROW)
    start = asyncio.Event()

    async def call() -> int | None:
        await start.wait()
        try:
            r = meter.reserve("alice", WORST, WORST, prices=PRICES)
        except InsufficientBudget:
            return None
        await asyncio.sleep(0)  # the upstream call: other tasks run between reserve and charge
        charge = meter.charge(r, Usage(prompt_tokens=0, completion_tokens=2858))
        await asyncio.sleep(0)
        meter.release(r)
        return charge.amount

    async def main() -> list[int | None]:
        tasks = [asyncio.create_task(call()) for _ in range(200)]
        await asyncio.sleep(0)
        start.set()
        return list(await asyncio.gather(*tasks))

    _check(meter, asyncio.run(main()))


def test_200_concurrent_threaded_calls_never_overspend() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", ESCROW)
    barrier = threading.Barrier(20)

    def call(_: int) -> int | None:
        barrier.wait() if _ < 20 else None
        return _one_call(meter)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(call, range(200)))
    _check(meter, results)


# --- child calls carved from a parent reservation ------------------------------------------------

UNIT = Prices(per_1k_input=1000, per_1k_output=1000)  # 1 unit per token


def test_carving_moves_budget_without_touching_the_escrow_twice() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", 1_000)
    parent = meter.reserve("alice", 100, 100, prices=UNIT)
    child = meter.carve(parent, 40, prices=UNIT, reservation_id="child-1")
    assert (child.caller, child.amount) == ("alice", 40)
    assert meter.available("alice") == 900  # carving books nothing new
    assert meter.output_tokens_allowed(parent, prompt_tokens=10) == 50
    assert meter.output_tokens_allowed(child, prompt_tokens=10) == 30
    with pytest.raises(InsufficientBudget, match=r"parent reservation .* has 60 left, wanted 61"):
        meter.carve(parent, 61, prices=UNIT)

    # The child spends 25 of 40; the 15 left go back to the still-running parent.
    assert meter.charge(child, Usage(prompt_tokens=20, completion_tokens=5)).amount == 25
    assert meter.release(child) == 15
    assert meter.output_tokens_allowed(parent, prompt_tokens=0) == 75
    charge = meter.charge(parent, Usage(prompt_tokens=50, completion_tokens=50))
    assert (charge.amount, charge.capped) == (75, True)
    assert meter.release(parent) == 0
    assert meter.available("alice") == 1_000 - 25 - 75


def test_a_childs_rest_goes_to_the_caller_once_the_parent_is_charged() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", 1_000)
    parent = meter.reserve("alice", 100, 100, prices=UNIT)
    child = meter.carve(parent, 40, prices=UNIT)
    meter.charge(parent, Usage(prompt_tokens=10, completion_tokens=0))
    assert meter.release(parent) == 50
    with pytest.raises(RuntimeError, match="cannot carve"):
        meter.carve(parent, 1, prices=UNIT)
    assert meter.available("alice") == 1_000 - 10 - 40  # the open child still holds its 40
    meter.charge(child, Usage(prompt_tokens=5, completion_tokens=5))
    assert meter.release(child) == 30
    assert meter.available("alice") == 1_000 - 10 - 10


def test_a_closed_reservation_allows_no_output() -> None:
    meter = GasMeter()
    meter.set_escrow("alice", 1_000)
    r = meter.reserve("alice", 100, 100, prices=UNIT)
    meter.release(r)
    assert meter.output_tokens_allowed(r, prompt_tokens=0) == 0


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["reserve", "carve", "charge", "release"]),
            st.integers(0, 30),  # which open reservation
            st.integers(0, 400),  # amount / tokens
        ),
        max_size=60,
    )
)
def test_random_operations_never_overspend(ops: list[tuple[str, int, int]]) -> None:
    escrow = 1_000
    meter = GasMeter()
    meter.set_escrow("alice", escrow)
    open_: list[object] = []
    charged = 0
    for op, pick, n in ops:
        try:
            if op == "reserve":
                open_.append(meter.reserve("alice", n, n, prices=UNIT))
            elif open_ and op == "carve":
                open_.append(meter.carve(open_[pick % len(open_)], n, prices=UNIT))  # type: ignore[arg-type]
            elif open_ and op == "charge":
                charged += meter.charge(
                    open_[pick % len(open_)],  # type: ignore[arg-type]
                    Usage(prompt_tokens=n, completion_tokens=n // 2),
                ).amount
            elif open_ and op == "release":
                meter.release(open_.pop(pick % len(open_)))  # type: ignore[arg-type]
        except (InsufficientBudget, RuntimeError):
            pass
        assert charged <= escrow
        assert 0 <= meter.available("alice") <= escrow - charged
    for r in open_:
        meter.release(r)  # type: ignore[arg-type]
    assert meter.available("alice") == escrow - charged
