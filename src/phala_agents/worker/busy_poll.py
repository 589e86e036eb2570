"""Keep the event loop polling for a short window after request activity, instead of sleeping.

On a virtual machine (and a confidential VM is one) a core that goes idle halts; the next packet
then costs a wake-up: an inter-processor interrupt for the sender and an exit from halt for the
receiver, ~50 us each way on the 2-core benchmark VM (a socket round trip between two idle cores
takes ~110 us there, between two tasks on one busy core ~8 us). A call through the gateway
crosses that gap four times (request in, upstream out and back, response out). Polling for a
window after each request event keeps the core awake for the next one, which cuts ~0.2 ms from
the median call at low concurrency (docs/benchmarks.md, "gateway" vs "gateway-nopoll").

This is the trade Linux's ``cpuidle-haltpoll`` guest driver makes (it polls up to 200 us before
halting a KVM guest's vCPU), done in the process because a worker cannot count on the guest
kernel's settings. The cost is CPU: at most ``window`` of polling after each call starts and
ends, nothing while idle, nothing under load (the loop is never idle then). Set the window to 0
to turn it off, e.g. when the worker shares its cores with a local model server.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["BusyPoll"]


class BusyPoll:
    """``touch()`` on request activity; the loop then polls until ``window_us`` passes quietly."""

    def __init__(self, window_us: int) -> None:
        if window_us < 0:
            raise ValueError(f"busy-poll window: found {window_us} us, wanted >= 0")
        self._window = window_us / 1_000_000
        self._until = 0.0
        self._task: asyncio.Task[None] | None = None
        self.polls = 0  # loop iterations spent polling (for tests and /metrics-style checks)

    @property
    def enabled(self) -> bool:
        return self._window > 0

    def touch(self) -> None:
        """Extend the polling window from now; start the poller if it is not running."""
        if self._window <= 0:
            return
        self._until = time.perf_counter() + self._window
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        # sleep(0) yields for one loop iteration; with a task ready the loop polls its sockets
        # with a zero timeout instead of blocking, so the core never halts inside the window.
        while time.perf_counter() < self._until:
            self.polls += 1
            await asyncio.sleep(0)

    async def aclose(self) -> None:
        self._until = 0.0
        if self._task is not None:
            await self._task
            self._task = None
