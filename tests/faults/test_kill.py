"""SIGKILL of the server during a large import and during concurrent writes, on SQLite and on
PostgreSQL: after a restart the database opens (the schema check passes), every write the
server acknowledged is there with the content it acknowledged, and the interrupted import left
all of its features or none."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import cli
from tests.faults.servers import Served, served

WRITERS = 6
IMPORTED = 40_000  # features of the import: long enough to be cut while it is stored


def point(n: int, **properties: Any) -> dict[str, Any]:
    lon, lat = 9.0 + (n % 1000) / 1000, 51.0 + (n // 1000) / 1000
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"n": n, **properties},
    }


class Writer(threading.Thread):
    """Adds features and replaces its first one again and again, recording what the server
    acknowledged (2xx) and, for the replaced feature, the last version it sent at all."""

    def __init__(self, served: Served, number: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.served, self.number, self.stop = served, number, stop
        self.added: dict[str, dict[str, Any]] = {}  # id: properties acknowledged
        self.first: str | None = None
        self.acknowledged_version = 0
        self.sent_version = 0

    def run(self) -> None:
        items = f"{self.served.url}/collections/points/items"
        with httpx.Client(headers=self.served.auth, timeout=10) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                try:
                    if self.first is None or n % 3:
                        properties = {"writer": self.number, "seq": n}
                        made = client.post(items, json=point(n, **properties))
                        if made.status_code == 201:
                            feature_id = made.headers["location"].rsplit("/", 1)[1]
                            self.added[feature_id] = point(n, **properties)["properties"]
                            self.first = self.first or feature_id
                    else:
                        self.sent_version = n
                        body = point(0, writer=self.number, version=n)
                        put = client.put(f"{items}/{self.first}", json=body)
                        if put.status_code == 200 or put.status_code == 204:
                            self.acknowledged_version = n
                except httpx.TransportError:
                    return  # the server is gone


def big_import(count: int, uploaded: threading.Event) -> Iterator[bytes]:
    yield b'{"type":"FeatureCollection","features":['
    for start in range(0, count, 1000):
        chunk = [orjson.dumps(point(n, batch=start)) for n in range(start, start + 1000)]
        yield (b"," if start else b"") + b",".join(chunk)
    yield b"]}"
    uploaded.set()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_kill_9_during_an_import_and_concurrent_writes_loses_no_acknowledged_write(
    tmp_path: Path, database: str
) -> None:
    with served(tmp_path, database) as it:
        auth = it.auth
        for name in ("points", "big"):
            made = httpx.post(f"{it.url}/manage/collections", headers=auth, json={"id": name})
            assert made.status_code == 201, made.text
        stop = threading.Event()
        writers = [Writer(it, number, stop) for number in range(WRITERS)]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 60
        while any(len(w.added) < 2 or not w.acknowledged_version for w in writers):
            assert time.monotonic() < deadline, "the writers got nothing acknowledged"
            time.sleep(0.05)
        uploaded = threading.Event()
        outcome: dict[str, Any] = {}

        def run_import() -> None:
            try:
                outcome["answer"] = httpx.post(
                    f"{it.url}/manage/collections/big/import",
                    headers={**auth, "Content-Type": "application/geo+json"},
                    content=big_import(IMPORTED, uploaded),
                    timeout=120,
                )
            except httpx.TransportError as exc:
                outcome["error"] = exc

        importer = threading.Thread(target=run_import, daemon=True)
        importer.start()
        assert uploaded.wait(60), "the import's body was not sent"
        time.sleep(0.3)  # the server checks and stores it now
        it.kill()
        stop.set()
        importer.join(10)
        for writer in writers:
            writer.join(10)
        assert "error" in outcome, f"the import ended before the kill: {outcome}"

        it.start()  # the database opens again (the server migrates or checks it as it starts)
        upgrade = cli("db", "upgrade", data=it.data)  # at the newest revision: nothing to do
        assert upgrade.returncode == 0
        if database == "sqlite":
            with closing(sqlite3.connect(it.data / "opengeomesh.sqlite")) as db:
                assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        with httpx.Client(headers=auth, timeout=30) as client:
            items = f"{it.url}/collections/points/items"
            for writer in writers:
                for feature_id, properties in writer.added.items():
                    found = client.get(f"{items}/{feature_id}")
                    assert found.status_code == 200, (feature_id, found.text)
                    if feature_id != writer.first:
                        assert found.json()["properties"] == properties
                if writer.first is not None:
                    kept = client.get(f"{items}/{writer.first}").json()["properties"]
                    version = kept.get("version", 0)
                    # what was acknowledged is there; a replacement cut off may be there too
                    assert writer.acknowledged_version <= version <= writer.sent_version, kept
            big = client.get(f"{it.url}/collections/big").json()
            assert big["numberOfFeatures"] in (0, IMPORTED), big  # all or nothing
            # and it works on: writes are taken again
            again = client.post(items, json=point(1, after="restart"))
            assert again.status_code == 201, again.text
