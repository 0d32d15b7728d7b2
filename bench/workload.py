"""The benchmark's world: deterministic point data, loading it with the real CLI, the server.

Everything here goes through the same doors an operator uses (``opengeomesh`` commands and
``opengeomesh serve``), so the numbers describe the product, not a test double.
"""

from __future__ import annotations

import math
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType

import httpx
import orjson

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CLI = Path(sys.executable).with_name("opengeomesh")
HOST = "127.0.0.1"
SEED = 20240601


@dataclass(frozen=True, slots=True)
class Region:
    """The rectangle (CRS84 degrees) points are spread over, uniformly in lon/lat."""

    west: float = 6.0
    south: float = 46.0
    east: float = 16.0
    north: float = 56.0

    @property
    def area(self) -> float:
        return (self.east - self.west) * (self.north - self.south)

    def box_side(self, features: int, expected: float) -> float:
        """Side of a square box expected to hold ``expected`` of ``features`` points."""
        return math.sqrt(expected * self.area / features)

    def random_box(self, rnd: random.Random, side: float) -> tuple[float, float, float, float]:
        """A square box of ``side`` degrees lying wholly inside the region."""
        west = self.west + rnd.random() * (self.east - self.west - side)
        south = self.south + rnd.random() * (self.north - self.south - side)
        return (round(west, 6), round(south, 6), round(west + side, 6), round(south + side, 6))


REGION = Region()
KINDS = ("hydrant", "valve", "sensor", "shelter", "depot")


def points(count: int) -> Iterator[tuple[int, float, float, float]]:
    """The points of a ``count``-feature data set: (id, lon, lat, value), always the same."""
    rnd = random.Random(SEED + count)
    width, height = REGION.east - REGION.west, REGION.north - REGION.south
    for i in range(1, count + 1):
        x = round(REGION.west + width * rnd.random(), 6)
        y = round(REGION.south + height * rnd.random(), 6)
        yield i, x, y, round(rnd.random() * 100, 2)


def data_file(work: Path, count: int) -> Path:
    """Newline-delimited GeoJSON of ``count`` points, generated once per seed and reused."""
    path = work / "data" / f"points-{count}-seed{SEED}.ndjson"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        lines = []
        for i, x, y, value in points(count):
            feature = {
                "type": "Feature",
                "id": i,
                "geometry": {"type": "Point", "coordinates": [x, y]},
                "properties": {"name": f"P{i:07d}", "kind": KINDS[i % len(KINDS)], "value": value},
            }
            lines.append(orjson.dumps(feature))
            if len(lines) == 10_000:
                out.write(b"\n".join(lines) + b"\n")
                lines = []
        if lines:
            out.write(b"\n".join(lines) + b"\n")
    partial.replace(path)
    return path


# A benchmark measures capacity: one token asks far more than a client would, so the rate
# limits (docs/security.md) are off in every server it starts.
BENCH_SETTINGS = {"OGM_RATE_LIMIT_PER_MINUTE_TOKEN": "0", "OGM_RATE_LIMIT_PER_MINUTE_PEER": "0"}


def cli_env() -> dict[str, str]:
    """The environment for commands and the server: no stray ``OGM_*`` settings, rate limits
    off."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("OGM_")}
    return {**kept, **BENCH_SETTINGS}


def cli(*args: str) -> str:
    """Run an ``opengeomesh`` command; its standard output, stripped."""
    done = subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, env=cli_env(), timeout=1800
    )
    if done.returncode != 0:
        raise RuntimeError(f"opengeomesh {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout.strip()


def prepare_database(data_dir: Path) -> str:
    """A fresh data directory with the admin user ``bench``; returns that user's token."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    cli("user", "add", "bench", "--admin", "--data", str(data_dir))
    token = cli("token", "create", "bench", "--data", str(data_dir), "--label", "benchmark")
    if not token.startswith("ogm_") or "\n" in token:
        raise RuntimeError(f"unexpected token output: {token!r}")
    return token


def import_collection(data_dir: Path, collection_id: str, source: Path) -> float:
    """Import ``source`` into a new collection with the CLI; returns the seconds it took."""
    started = time.perf_counter()
    cli(
        "collection",
        "import",
        collection_id,
        str(source),
        "--create",
        "--user",
        "bench",
        "--data",
        str(data_dir),
    )
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """``opengeomesh serve`` as a subprocess on a free loopback port; stopped on exit."""

    def __init__(self, data_dir: Path, log: Path, extra: Sequence[str] = ()) -> None:
        self.data_dir = data_dir
        self.log = log
        self.extra = tuple(extra)  # more ``serve`` options: --database-url, --workers
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> Server:
        args = [str(CLI), "serve", "--data", str(self.data_dir), "--host", HOST]
        args += ["--port", str(self.port), *self.extra]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=cli_env(), start_new_session=True
            )
        try:
            self._wait_ready(timeout=60)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout} s")

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL if it lingers."""
        process, self.process = self.process, None
        stop_process(process, timeout=15)


def stop_process(process: subprocess.Popen[bytes] | None, *, timeout: float) -> None:
    """End a child process if it still runs: SIGTERM, then SIGKILL after ``timeout`` s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def memory(pid: int) -> tuple[float, float, int, int] | None:
    """``VmRSS`` and ``RssAnon`` (MiB), threads and open database handles of a process.

    RSS counts file pages too (an ``mmap``-ed database would show up there); ``RssAnon`` is
    the process's own heap, which is what must not grow. Database handles are the open file
    descriptors of ``*.sqlite`` files: one per SQLite connection. None once the process is gone.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        rss = int(fields["VmRSS"].split()[0]) / 1024
        anon = int(fields["RssAnon"].split()[0]) / 1024
        handles = 0
        for fd in os.scandir(f"/proc/{pid}/fd"):
            try:
                handles += os.readlink(fd.path).endswith(".sqlite")
            except OSError:
                continue
        return rss, anon, int(fields["Threads"]), handles
    except (OSError, KeyError, ValueError):
        return None


def _machine_busy() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine since boot (``/proc/stat``)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(ticks[:8])  # guest time is already counted in user
    idle = ticks[3] + ticks[4]
    hz = os.sysconf("SC_CLK_TCK")
    return (total - idle) / hz, total / hz


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Who used the CPUs during a measurement: the server, this load generator, and the rest.

    The machine is shared, so every phase reports how busy other processes kept it; numbers
    taken while others were busy deserve less trust. Shares are of the whole machine (all
    cores = 100 %).
    """

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self._start = self._read()

    def _read(self) -> tuple[float, float, float, float]:
        busy, total = _machine_busy()
        return busy, total, _process_cpu(self.server_pid), _process_cpu(os.getpid())

    def shares(self) -> dict[str, float]:
        """Percent of the machine's CPU time since creation, by who used it."""
        end = self._read()
        busy, total, server, bench = (b - a for a, b in zip(self._start, end, strict=True))
        if total <= 0:
            return {"server": math.nan, "bench": math.nan, "others": math.nan}
        return {
            "server": 100 * server / total,
            "bench": 100 * bench / total,
            "others": max(0.0, 100 * (busy - server - bench) / total),
        }


def wait_until_quiet(limit_s: float, threshold: float = 15.0) -> float:
    """Wait (at most ``limit_s``) until other processes use < ``threshold`` % of the machine.

    Returns the share they used in the last 2 s looked at. Measurements start anyway when the
    time is up; the CPU columns of the report then show the noise.
    """
    deadline = time.monotonic() + limit_s
    while True:
        busy, total = _machine_busy()
        mine = _process_cpu(os.getpid())
        time.sleep(2)
        busy2, total2 = _machine_busy()
        others = 100 * ((busy2 - busy) - (_process_cpu(os.getpid()) - mine)) / (total2 - total)
        if others < threshold or time.monotonic() > deadline:
            return others


def machine() -> dict[str, str]:
    """What the numbers were measured on, for the report."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
        ram = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        ram = "unknown"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "cpu": cpu,
        "cores": f"{os.cpu_count()} logical ({len(os.sched_getaffinity(0))} usable)",
        "ncpu": str(os.cpu_count() or 1),
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": ", ".join(
            f"{name} {metadata.version(name)}"
            for name in ("opengeomesh", "uvicorn", "fastapi", "httpx", "orjson")
        ),
        "commit": _git_commit(),
        "load": " / ".join(f"{v:.2f}" for v in os.getloadavg()),
    }


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} (src/ with uncommitted changes)" if dirty else head
