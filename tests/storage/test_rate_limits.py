"""Rate limit counts: every process adds its hits to one count per key and minute."""

from __future__ import annotations

import threading

import pytest

from opengeomesh.limits.rates import RateLimiter, TooManyRequests
from opengeomesh.storage.stores import Stores
from tests.storage.conftest import OpenStores

MINUTE = 29_000_000  # some minute since the epoch


def test_hits_add_up_per_key_and_minute(stores: Stores) -> None:
    store = stores.rate_limits
    assert store.add_hits(MINUTE, {"token:a": 3, "peer server:b.example": 1}) == {
        "token:a": 3,
        "peer server:b.example": 1,
    }
    assert store.add_hits(MINUTE, {"token:a": 2}) == {"token:a": 5}
    # a new minute starts from nothing and drops the counts of the minutes before
    assert store.add_hits(MINUTE + 1, {"token:a": 1}) == {"token:a": 1}
    assert store.add_hits(MINUTE, {"peer server:b.example": 1}) == {"peer server:b.example": 1}


def test_two_workers_share_one_count(open_stores: OpenStores) -> None:
    """Two openings of one database, as two worker processes: a limit of 10 a minute lets
    10 requests through in all, once each has shared its counts."""
    now = [MINUTE * 60.0 + 5]
    first = RateLimiter(open_stores().rate_limits, clock=lambda: now[0])
    second = RateLimiter(open_stores().rate_limits, clock=lambda: now[0])
    for _ in range(6):
        first.hit("token", "t1", 10)
    first.flush()
    for _ in range(4):
        second.hit("token", "t1", 10)
    second.flush()  # learns the first worker's 6
    with pytest.raises(TooManyRequests) as refused:
        second.hit("token", "t1", 10)
    assert refused.value.retry_after == 55
    first.hit("token", "t1", 10)  # still within what the first worker knows: let through
    first.flush()  # and counted: now it knows the 11 both have counted
    with pytest.raises(TooManyRequests):
        first.hit("token", "t1", 10)
    second.hit("token", "other", 10)  # another key has its own count
    now[0] += 60  # the next minute
    first.hit("token", "t1", 10)


def test_concurrent_flushes_lose_no_hit(open_stores: OpenStores) -> None:
    """Threads of two workers flushing at once: the database's count is every hit."""
    workers = [open_stores().rate_limits, open_stores().rate_limits]
    totals: list[int] = []

    def add(index: int) -> None:
        for _ in range(20):
            totals.append(
                workers[index % 2].add_hits(MINUTE, {"peer server:x": 1})["peer server:x"]
            )

    threads = [threading.Thread(target=add, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(totals) == list(range(1, 81))
