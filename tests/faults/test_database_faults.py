"""The database out of reach (PostgreSQL behind a proxy the test cuts) and a full disk (SQLite
on a small tmpfs the test fills): requests get a clear 503 (with Retry-After) or 507 problem,
never a 500; nothing is half-written; the server keeps running and answers normally once the
database is back or space is freed.

The full disk is real: the data directory is a tmpfs of a few megabytes (the tests run as
root, here and in CI), so SQLite meets ENOSPC and reports SQLITE_FULL as it would on a full
disk; ``PRAGMA max_page_count`` would only imitate that."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, suppress
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import free_port
from tests.e2e.orgs import eventually
from tests.faults.proxy import DOWN, PASS, FaultProxy
from tests.faults.servers import Served, served


def point(n: int) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [9.0 + n / 10000, 51.0]},
        "properties": {"n": n, "note": "x" * 200},
    }


def collection(it: Served, name: str) -> None:
    made = httpx.post(f"{it.url}/manage/collections", headers=it.auth, json={"id": name})
    assert made.status_code == 201, made.text


def count(it: Served, name: str) -> int:
    found = httpx.get(f"{it.url}/collections/{name}", headers=it.auth, timeout=30)
    assert found.status_code == 200, found.text
    return int(found.json()["numberOfFeatures"])


def import_body(first: int, number: int) -> bytes:
    return orjson.dumps(
        {"type": "FeatureCollection", "features": [point(n) for n in range(first, first + number)]}
    )


def assert_problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = dict(answer.json())
    assert problem["status"] == status and problem["detail"], problem
    if status == 503:
        assert int(answer.headers["retry-after"]) > 0
    return problem


def test_postgresql_out_of_reach_is_a_503_and_the_server_recovers(tmp_path: Path) -> None:
    proxy = FaultProxy(free_port(), 5432)
    try:
        with served(tmp_path, "postgresql", postgres_port=proxy.port) as it:
            collection(it, "points")
            items = f"{it.url}/collections/points/items"
            first = httpx.post(items, headers=it.auth, json=point(1))
            assert first.status_code == 201, first.text

            proxy.set(DOWN)  # every connection cut, the port closed
            with httpx.Client(headers=it.auth, timeout=60) as client:
                asked = [
                    partial(client.get, items),
                    partial(client.post, items, json=point(2)),
                    partial(
                        client.post,
                        f"{it.url}/manage/collections/points/import",
                        headers={"Content-Type": "application/geo+json"},
                        content=import_body(100, 50),
                    ),
                ]
                with ThreadPoolExecutor(len(asked)) as pool:  # each waits for a connection
                    answers = list(pool.map(lambda ask: ask(), asked))
                for answer in answers:
                    assert "database" in assert_problem(answer, 503)["detail"]
            assert it.server is not None and it.server.process.poll() is None

            proxy.set(PASS)
            assert eventually(lambda: httpx.get(items, headers=it.auth).status_code == 200, 30)
            for _ in range(20):  # every pooled connection works again, none broken is handed out
                assert httpx.get(items, headers=it.auth).status_code == 200
            assert count(it, "points") == 1  # nothing of the refused writes
            again = httpx.post(items, headers=it.auth, json=point(3))
            assert again.status_code == 201, again.text
            assert count(it, "points") == 2
            assert it.server is not None
            assert "unexpected error" not in it.server.output()
    finally:
        proxy.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 32 MB at ``tmp_path / "data"``."""
    mount = tmp_path / "data"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Fill the file system of ``directory`` to the last byte; the file that did it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            with suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_a_507_nothing_half_written_and_writes_resume(small_disk: Path) -> None:
    with served(small_disk.parent, "sqlite") as it:
        collection(it, "points")
        items = f"{it.url}/collections/points/items"
        with httpx.Client(headers=it.auth, timeout=60) as client:
            for n in range(5):
                assert client.post(items, json=point(n)).status_code == 201
            before = count(it, "points")
            filler = fill(small_disk)

            # a large import does not fit: refused as a whole
            imported = client.post(
                f"{it.url}/manage/collections/points/import",
                headers={"Content-Type": "application/geo+json"},
                content=import_body(1000, 5000),
            )
            assert "disk is full" in assert_problem(imported, 507)["detail"]
            assert count(it, "points") == before
            # single writes: taken while SQLite finds room in its files, then refused
            refused = None
            for n in range(100, 400):
                answer = client.post(items, json=point(n))
                if answer.status_code != 201:
                    refused = answer
                    break
            assert refused is not None, "the disk never filled up"
            assert_problem(refused, 507)
            taken = count(it, "points")
            assert client.get(items).status_code == 200  # reads go on
            assert it.server is not None and it.server.process.poll() is None

            with closing(sqlite3.connect(it.data / "opengeomesh.sqlite")) as db:
                assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

            filler.unlink()  # space again: writes resume, on the same server
            time.sleep(0.1)
            assert client.post(items, json=point(9999)).status_code == 201
            again = client.post(
                f"{it.url}/manage/collections/points/import",
                headers={"Content-Type": "application/geo+json"},
                content=import_body(1000, 5000),
            )
            assert again.status_code == 200, again.text
            assert count(it, "points") == taken + 1 + 5000
        assert "unexpected error" not in it.server.output()
    with closing(sqlite3.connect(small_disk / "opengeomesh.sqlite")) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
