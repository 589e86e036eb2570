"""BusyPoll: polls the loop for its window after each touch, then lets it idle."""

from __future__ import annotations

import asyncio

import pytest

from phala_agents.worker.busy_poll import BusyPoll


def test_a_touch_polls_until_the_window_passes_then_stops() -> None:
    async def main() -> BusyPoll:
        poll = BusyPoll(2_000)
        poll.touch()
        task = poll._task
        assert task is not None and not task.done()
        await asyncio.sleep(0.02)  # well past the 2 ms window
        assert task.done() and poll.polls > 0
        polled = poll.polls
        poll.touch()  # a new window starts a new poller
        assert poll._task is not task
        await poll.aclose()
        assert poll.polls >= polled
        return poll

    poll = asyncio.run(main())
    assert poll._task is None


def test_touches_inside_the_window_share_one_poller() -> None:
    async def main() -> None:
        poll = BusyPoll(50_000)
        poll.touch()
        first = poll._task
        for _ in range(10):
            await asyncio.sleep(0)
            poll.touch()
        assert poll._task is first
        await poll.aclose()  # ends the window at once
        assert first is not None and first.done()

    asyncio.run(main())


def test_zero_turns_it_off_and_a_negative_window_is_refused() -> None:
    async def main() -> None:
        poll = BusyPoll(0)
        poll.touch()
        assert not poll.enabled and poll._task is None
        await poll.aclose()

    asyncio.run(main())
    with pytest.raises(ValueError, match="found -1 us, wanted >= 0"):
        BusyPoll(-1)
