"""NonceManager: max(pool-aware node count, local count), give-back and reset."""

from __future__ import annotations

import threading

from phala_agents.client import NonceManager

ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"


def test_local_count_covers_a_node_that_lags() -> None:
    manager = NonceManager(lambda _address: 7)
    assert [manager.next(ALICE) for _ in range(3)] == [7, 8, 9]
    assert manager.peek(ALICE) == 10
    assert manager.next(BOB) == 7  # per account


def test_node_count_wins_when_someone_else_sent() -> None:
    node = {"n": 3}
    manager = NonceManager(lambda _address: node["n"])
    assert manager.next(ALICE) == 3
    node["n"] = 9
    assert manager.next(ALICE) == 9


def test_release_gives_back_only_the_last_nonce() -> None:
    manager = NonceManager(lambda _address: 0)
    first, second = manager.next(ALICE), manager.next(ALICE)
    manager.release(ALICE, first)  # not the last one: a gap stays
    assert manager.peek(ALICE) == 2
    manager.release(ALICE, second)
    assert manager.peek(ALICE) == 1
    assert manager.next(ALICE) == 1


def test_reset_returns_to_the_node_count() -> None:
    manager = NonceManager(lambda _address: 4)
    manager.next(ALICE)
    manager.next(ALICE)
    manager.reset(ALICE)
    assert manager.peek(ALICE) is None
    assert manager.next(ALICE) == 4
    manager.next(BOB)
    manager.reset()
    assert manager.peek(BOB) is None


def test_threads_get_distinct_nonces() -> None:
    manager = NonceManager(lambda _address: 0)
    got: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            nonce = manager.next(ALICE)
            with lock:
                got.append(nonce)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(200))
    assert repr(manager) == "NonceManager(accounts=1)"
