"""PostgreSQL change notifications reach the listener of another connection, after commit."""

import random
import threading
import time

import psycopg

from opengeomesh.storage.postgres.notifications import ChangeListener
from tests.postgres import fresh_database_url


def test_notifications_wake_after_commit_only() -> None:
    # Other tests may notify on the same database meanwhile: only these keys count.
    first, second = (random.randrange(10**12, 10**13) for _ in range(2))
    woken: list[int] = []
    arrived = threading.Event()

    def wake(key: int) -> None:
        if key in (first, second):
            woken.append(key)
            arrived.set()

    with fresh_database_url() as url:
        listener = ChangeListener(url, wake, lambda: None)
        listener.start()
        try:
            with psycopg.connect(url) as conn:
                conn.execute("SELECT pg_notify('ogm_changes', %s)", (f"{first}:1",))
                assert not arrived.wait(0.5)  # not committed yet
                conn.commit()
                assert arrived.wait(5)
                conn.execute("SELECT pg_notify('ogm_changes', 'nonsense')")
                conn.execute("SELECT pg_notify('ogm_changes', %s)", (f"{second}:2",))
                conn.commit()
            deadline = time.monotonic() + 5
            while len(woken) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            listener.stop()
    assert woken == [first, second]
