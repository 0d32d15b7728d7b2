"""The measurements: items paging under load, bursts after idle pauses, bbox queries (over
HTTP and in-process) and a full walk with the server's memory watched.

Each function is bounded in requests and in time and talks only to the loopback server it is
given; results are plain JSON-ready values, so a run can be saved and rendered later.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import math
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import numpy as np
import orjson

from workload import HOST, REGION, memory, points

PAGE = 100  # the page size the issue asks about
BBOX_LIMIT = 10_000  # bbox queries ask for everything in the box in one page (max_limit)

Box = tuple[float, float, float, float]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0-100) of unsorted values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Median, p90 and p99 of durations given in seconds, in milliseconds."""
    return {
        "median": percentile(seconds, 50) * 1000,
        "p90": percentile(seconds, 90) * 1000,
        "p99": percentile(seconds, 99) * 1000,
    }


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/geo+json"}


def _next_link(page: dict[str, Any]) -> str | None:
    return next((link["href"] for link in page["links"] if link["rel"] == "next"), None)


def _target(url: str) -> str:
    """The request target (path and query) of an absolute URL from a link."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


class Connection:
    """One keep-alive HTTP/1.1 connection for sequential requests (stdlib ``http.client``).

    The load generator shares the machine's two cores with the server, so clients are kept
    lean: httpx spends about 1 ms of CPU per request here, ``http.client`` about 0.25 ms.
    """

    def __init__(self, base: str, token: str) -> None:
        parts = urlsplit(base)
        self._conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=120)
        self._headers = _headers(token)

    def get(self, url: str) -> tuple[int, bytes]:
        """Status and body of ``GET url`` (absolute URL or path)."""
        self._conn.request("GET", _target(url) if "://" in url else url, headers=self._headers)
        response = self._conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._conn.close()


class AsyncConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams, for the concurrent load.

    A deliberately minimal client (``Content-Length`` or chunked bodies, GET only): about
    0.1 ms of CPU per request instead of httpx's ~1 ms, which would compete with the server.
    """

    def __init__(self, base: str, token: str) -> None:
        parts = urlsplit(base)
        self._host, self._port = parts.hostname or HOST, parts.port or 80
        lines = [f"Host: {self._host}:{self._port}"]
        lines += [f"{name}: {value}" for name, value in _headers(token).items()]
        self._head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, url: str) -> tuple[int, bytes]:
        """Status and body of ``GET url`` (absolute URL or path)."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._streams
        target = _target(url) if "://" in url else url
        writer.write(f"GET {target} HTTP/1.1\r\n".encode() + self._head)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = await _chunked(reader)
        else:
            raise RuntimeError(f"response without a length: {status_line}")
        if headers.get("connection") == "close":
            await self.close()
        return int(status_line.split()[1]), body

    async def close(self) -> None:
        if self._streams is not None:
            _, writer = self._streams
            self._streams = None
            writer.close()


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    await reader.readuntil(b"\r\n")
    return b"".join(parts)


# --- items pages under concurrent load ------------------------------------------------------


async def items_load(
    base: str,
    token: str,
    collection_id: str,
    total: int,
    scenario: str,
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    seed: int,
) -> LoadRun:
    """Pages of ``limit=100`` per second from ``concurrency`` clients for ``duration`` seconds.

    Scenarios: ``first`` (the first page, again and again), ``offset`` (a random ``offset``
    each time) and ``cursor`` (each client follows ``next`` links; a chain starts at a random
    offset, and that starting request is not counted). Only requests that start after
    ``warmup`` and finish inside the measured window count.
    """
    path = f"/collections/{collection_id}/items?limit={PAGE}"
    start = time.perf_counter()
    window = (start + warmup, start + warmup + duration)
    latencies: list[float] = []
    problems: list[str] = []

    async def client_loop(number: int) -> None:
        rnd = random.Random(seed * 1000 + number)
        conn = AsyncConnection(base, token)
        following: str | None = None
        try:
            while time.perf_counter() < window[1] and len(problems) < 20:
                counted = True
                if scenario == "first":
                    url = path
                elif scenario == "offset" or following is None:
                    url = f"{path}&offset={rnd.randrange(total - PAGE)}"
                    counted = scenario == "offset"
                else:
                    url = following
                began = time.perf_counter()
                try:
                    status, body = await conn.get(url)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    problems.append(f"connection: {exc!r}")
                    await conn.close()
                    following = None
                    continue
                ended = time.perf_counter()
                if status != 200:
                    problems.append(f"{status} {body[:200]!r}")
                    following = None
                    continue
                page = orjson.loads(body)
                following = _next_link(page)
                if page["numberReturned"] != PAGE and following is not None:
                    problems.append(f"short page: {page['numberReturned']} features")
                if counted and window[0] <= began and ended <= window[1]:
                    latencies.append(ended - began)
        finally:
            await conn.close()

    await asyncio.gather(*(client_loop(n) for n in range(concurrency)))
    return LoadRun(scenario, concurrency, duration, latencies, problems)


@dataclass(frozen=True, slots=True)
class LoadRun:
    """The raw outcome of one :func:`items_load`."""

    scenario: str
    concurrency: int
    duration_s: float
    latencies: list[float]
    problems: list[str]


def load_summary(runs: Sequence[LoadRun]) -> dict[str, Any]:
    """Several runs of one load (interleaved rounds) summed up as one."""
    latencies = [value for run in runs for value in run.latencies]
    problems = [problem for run in runs for problem in run.problems]
    duration = sum(run.duration_s for run in runs)
    return {
        "scenario": runs[0].scenario,
        "concurrency": runs[0].concurrency,
        "rounds": len(runs),
        "duration_s": duration,
        "requests": len(latencies),
        "per_second": len(latencies) / duration,
        "per_second_by_round": [len(run.latencies) / run.duration_s for run in runs],
        "latency_ms": latency_ms(latencies),
        "errors": problems[:5],
        "error_count": len(problems),
    }


async def bursts(
    base: str,
    token: str,
    pid: int,
    collection_id: str,
    total: int,
    *,
    clients: int,
    count: int,
    burst_s: float,
    idle_s: float,
) -> list[dict[str, Any]]:
    """Bursts of ``clients`` clients following ``next`` links, with idle pauses between them.

    A server that keeps one SQLite connection per worker thread, while the thread pool retires
    idle threads and starts new ones, shows here as handles and memory that grow per burst.
    """
    rows = []
    for number in range(count):
        await asyncio.sleep(idle_s)
        before = memory(pid)
        run = await items_load(
            base,
            token,
            collection_id,
            total,
            "cursor",
            concurrency=clients,
            warmup=0.0,
            duration=burst_s,
            seed=number,
        )
        after = memory(pid)
        if before is None or after is None:
            raise RuntimeError("the server is gone")
        rows.append(
            {
                "burst": number + 1,
                "per_second": len(run.latencies) / run.duration_s,
                "errors": len(run.problems),
                "rss_before": before[0],
                "rss_after": after[0],
                "threads_after": after[2],
                "handles_before": before[3],
                "handles_after": after[3],
            }
        )
    return rows


# --- bbox queries --------------------------------------------------------------------------


def boxes(total: int, expected: float, count: int, seed: int) -> list[Box]:
    """``count`` random square boxes, each expected to hold ``expected`` of ``total`` points."""
    side = REGION.box_side(total, expected)
    rnd = random.Random(seed)
    return [REGION.random_box(rnd, side) for _ in range(count)]


@functools.cache
def _coordinates(total: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.fromiter(
        ((x, y) for _, x, y, _ in points(total)), dtype=np.dtype((np.float64, 2)), count=total
    )


def true_counts(total: int, chosen: Sequence[Box]) -> list[int]:
    """How many points of the data set lie in each box (edges included), from the generator."""
    xy = _coordinates(total)
    x, y = xy[:, 0], xy[:, 1]
    return [int(((x >= w) & (x <= e) & (y >= s) & (y <= n)).sum()) for w, s, e, n in chosen]


def bbox_http(
    base: str, token: str, collection_id: str, chosen: Sequence[Box], expected: Sequence[int]
) -> dict[str, Any]:
    """Sequential bbox requests (one at a time, so latency is not queueing); checks each count."""
    path = f"/collections/{collection_id}/items?limit={BBOX_LIMIT}&bbox="
    latencies: list[float] = []
    returned: list[int] = []
    wrong = 0
    conn = Connection(base, token)
    try:
        for box in chosen[:5]:  # warm-up
            conn.get(path + _bbox_text(box))
        for box, truth in zip(chosen, expected, strict=True):
            began = time.perf_counter()
            status, body = conn.get(path + _bbox_text(box))
            latencies.append(time.perf_counter() - began)
            if status != 200:
                raise RuntimeError(f"bbox request failed: {status} {body[:300]!r}")
            page = orjson.loads(body)
            returned.append(page["numberReturned"])
            if page["numberReturned"] != truth or page.get("numberMatched") != truth:
                wrong += 1
    finally:
        conn.close()
    return _bbox_summary(latencies, returned, wrong)


def bbox_store(
    data_dir: Path, collection_id: str, chosen: Sequence[Box], expected: Sequence[int]
) -> dict[str, Any]:
    """The same queries in-process through ``Catalog.items``: storage cost without HTTP.

    ``encode_ms`` is the extra time to turn the page's features into GeoJSON bytes, as the
    items handler does.
    """
    from opengeomesh.config import load_settings
    from opengeomesh.features.encoding import feature_bytes
    from opengeomesh.features.query import parse_items_query
    from opengeomesh.services import open_services

    settings = load_settings({"data_dir": data_dir}, environ={})
    services = open_services(settings)
    try:
        caller = services.accounts.caller_for_user("bench")
        latencies: list[float] = []
        encodes: list[float] = []
        returned: list[int] = []
        wrong = 0
        for warm, box in enumerate([*chosen[:5], *chosen]):
            query = parse_items_query(
                {"bbox": _bbox_text(box), "limit": str(BBOX_LIMIT)},
                default_limit=settings.default_limit,
                max_limit=settings.max_limit,
            )
            began = time.perf_counter()
            _, page = services.catalog.items(caller, collection_id, query)
            queried = time.perf_counter()
            b",".join(feature_bytes(f) for f in page.features)
            encoded = time.perf_counter()
            if warm < 5:
                continue
            latencies.append(queried - began)
            encodes.append(encoded - queried)
            returned.append(len(page.features))
            if len(page.features) != expected[warm - 5]:
                wrong += 1
        summary = _bbox_summary(latencies, returned, wrong)
        summary["encode_ms"] = latency_ms(encodes)
        return summary
    finally:
        services.close()


def _bbox_text(box: Box) -> str:
    return ",".join(f"{v:.6f}" for v in box)


def _bbox_summary(latencies: list[float], returned: list[int], wrong: int) -> dict[str, Any]:
    middle = percentile(returned, 50)
    lat = latency_ms(latencies)
    return {
        "requests": len(latencies),
        "latency_ms": lat,
        "returned": {
            "median": middle,
            "min": min(returned),
            "max": max(returned),
            "mean": sum(returned) / len(returned),
        },
        "us_per_feature": 1000 * lat["median"] / middle if middle else math.nan,
        "wrong_counts": wrong,
    }


# --- a full walk with the server's memory watched --------------------------------------------


class Sample(NamedTuple):
    """One look at the server's memory."""

    seconds: float
    pages: int  # pages walked so far
    rss: float  # MiB
    anon: float  # MiB
    threads: int
    handles: int  # open SQLite database files, one per connection


class RssSampler(threading.Thread):
    """Samples a process's memory every ``interval`` seconds, with the walk's progress."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[Sample] = []
        self.pages = 0
        self._stop_event = threading.Event()
        self._began = time.perf_counter()

    def run(self) -> None:
        while not self._stop_event.is_set():
            found = memory(self.pid)
            if found is None:
                return
            self.samples.append(Sample(time.perf_counter() - self._began, self.pages, *found))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def summary(self) -> dict[str, Any]:
        """RSS and anonymous memory (MiB) at the start, at most and at the end; threads."""
        first, last = self.samples[0], self.samples[-1]
        return {
            "start": first.rss,
            "max": max(s.rss for s in self.samples),
            "end": last.rss,
            "anon_start": first.anon,
            "anon_max": max(s.anon for s in self.samples),
            "threads_max": max(s.threads for s in self.samples),
            "handles_max": max(s.handles for s in self.samples),
        }


def walk(
    base: str, token: str, pid: int, collection_id: str, total: int, limit: int, max_s: float
) -> dict[str, Any]:
    """Follow ``next`` links through a whole collection, sampling the server's RSS.

    Checks that every feature id comes exactly once. Stops early (and says so) after ``max_s``.
    """
    url: str | None = f"/collections/{collection_id}/items?limit={limit}"
    seen = bytearray(total + 1)
    features = duplicates = strangers = pages = 0
    latencies: list[float] = []
    conn = Connection(base, token)
    conn.get("/")
    time.sleep(1)
    sampler = RssSampler(pid)
    sampler.start()
    began = time.perf_counter()
    finished = True
    try:
        while url is not None:
            if time.perf_counter() - began > max_s:
                finished = False
                break
            sent = time.perf_counter()
            status, body = conn.get(url)
            latencies.append(time.perf_counter() - sent)
            if status != 200:
                raise RuntimeError(f"page {pages + 1} failed: {status} {body[:300]!r}")
            page = orjson.loads(body)
            for feature in page["features"]:
                fid = feature["id"]
                if not isinstance(fid, int) or not 0 < fid <= total:
                    strangers += 1
                elif seen[fid]:
                    duplicates += 1
                else:
                    seen[fid] = 1
            features += len(page["features"])
            pages += 1
            sampler.pages = pages
            url = _next_link(page)
        elapsed = time.perf_counter() - began
        time.sleep(1)
    finally:
        sampler.stop()
        conn.close()
    return {
        "limit": limit,
        "finished": finished,
        "pages": pages,
        "features": features,
        "distinct": sum(seen),
        "duplicates": duplicates,
        "unknown_ids": strangers,
        "missing": total - sum(seen),
        "seconds": elapsed,
        "pages_per_second": pages / elapsed,
        "features_per_second": features / elapsed,
        "latency_ms": latency_ms(latencies),
        "rss_mib": {
            **sampler.summary(),
            "by_progress": _rss_by_progress(sampler.samples, pages),
        },
    }


def _rss_by_progress(samples: list[Sample], pages: int) -> dict[str, float]:
    """RSS when 0, 25, 50, 75 and 100 % of the pages were done (the first sample at or past)."""
    marks: dict[str, float] = {}
    for share in (0, 25, 50, 75, 100):
        target = pages * share / 100
        hit = next((s.rss for s in samples if s.pages >= target), None)
        if hit is not None:
            marks[f"{share}%"] = hit
    return marks
