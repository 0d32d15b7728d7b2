"""The database's connections: one per thread, closed when the thread ends."""

import gc
import threading
from pathlib import Path

from opengeomesh.storage.sqlite.database import Database


def test_connections_end_with_their_threads(tmp_path: Path) -> None:
    database = Database(tmp_path / "db.sqlite")
    database.migrate()
    database.connection().execute("SELECT 1")
    for _ in range(5):
        worker = threading.Thread(target=lambda: database.connection().execute("SELECT 1"))
        worker.start()
        worker.join()
        del worker
        gc.collect()
    assert database.open_connections == 1  # only this thread's
    database.close()
    assert database.open_connections == 0
