"""The database's connections (one per thread, closed when the thread ends) and its schema."""

import gc
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from fastapi import FastAPI

from opengeomesh.api.page_cache import PageCache
from opengeomesh.app import create_app_from_environment
from opengeomesh.config import load_settings
from opengeomesh.errors import Conflict, InvalidInput
from opengeomesh.services import Services, open_services
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


def test_a_worker_checks_the_schema_and_never_migrates(tmp_path: Path) -> None:
    """Workers of ``serve --workers N`` open the database prepared by their parent: an
    unmigrated one is refused with what to do, not migrated by each of them at once."""
    settings = load_settings({"data_dir": tmp_path}, environ={})
    with pytest.raises(InvalidInput, match="db upgrade"):
        open_services(settings, prepared=True)
    with sqlite3.connect(settings.sqlite_path) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    conn.close()
    open_services(settings, serving=True).close()
    worker = open_services(settings, prepared=True)
    assert worker.stores.database.check_schema() == worker.stores.database.migrate()
    worker.close()


def test_a_name_taken_meanwhile_is_a_conflict(services: Services) -> None:
    """The domain checks that a name is free, but another worker may take it before the write:
    the store's refusal is a 409, not a 500."""
    stores = services.stores
    owner = stores.accounts.add_user("alice", "Alice", False)
    with pytest.raises(Conflict, match="user 'alice'"):
        stores.accounts.add_user("alice", "Alice again", False)
    stores.accounts.add_group("control-room")
    with pytest.raises(Conflict, match="group 'control-room'"):
        stores.accounts.add_group("control-room")
    layer = {"title": "L", "description": "", "owner_id": owner.id, "public": False}
    stores.collections.create("layer", temporal_property=None, **layer)
    with pytest.raises(Conflict, match="collection 'layer'"):
        stores.collections.create("layer", temporal_property=None, **layer)
    assert [c.id for c in stores.collections.all()] == ["layer"]


def test_the_worker_factory_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``create_app_from_environment`` (uvicorn's factory in each worker) reads the settings
    from ``OGM_*``; a database not migrated yet stops the workers for good (uvicorn's exit
    status 3) instead of having them started again and again."""
    for name in [n for n in os.environ if n.startswith("OGM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OGM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OGM_TITLE", "Worker")
    with pytest.raises(SystemExit) as stopped:
        create_app_from_environment()
    assert stopped.value.code == 3
    open_services(load_settings(), serving=True).close()
    served = create_app_from_environment()
    assert isinstance(served, PageCache)  # SQLite: the app behind the page cache
    app = served.app
    assert isinstance(app, FastAPI)
    services: Services = app.state.services
    assert services.settings.data_dir == tmp_path and app.title == "Worker"
    services.close()
