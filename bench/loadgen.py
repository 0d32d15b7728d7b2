"""The load generator of ``bench/compare.py``: wrk (C, from Debian) replaying a fixed list of
request targets, and the memory of a server's whole process tree sampled meanwhile.

Every system under test gets the very same targets in the same order, so a row of the report
compares like with like; wrk's event loop costs far less CPU than a Python client would, which
matters on a two-core machine shared by the load generator and the servers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Each connection walks the list from its own starting point; done() prints one JSON line.
SCRIPT = """\
local targets = {}
for line in io.lines(os.getenv("BENCH_TARGETS")) do targets[#targets + 1] = line end
local counter = 0
local headers = {}
local auth = os.getenv("BENCH_AUTH")
headers["Accept"] = "application/geo+json, application/json"
if auth and auth ~= "" then headers["Authorization"] = "Bearer " .. auth end

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end

function init(args)
  index = offset or 0
end

function request()
  index = index + 1
  return wrk.format("GET", targets[(index % #targets) + 1], headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d}\\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, e.connect, e.read, e.write,
    e.status, e.timeout))
end
"""


def ensure_wrk() -> str:
    """The ``wrk`` command; installed from Debian when missing (the bench runs as root in CI)."""
    found = shutil.which("wrk")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, timeout=600)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants (uvicorn's workers, their helpers)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_rss_mib(root: int) -> float:
    """Resident memory of a process tree in MiB (the sum of each process's ``VmRSS``)."""
    total = 0
    for pid in tree_pids(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) the live processes of a tree have used."""
    ticks = 0
    for pid in tree_pids(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(root: int, limit_s: float = 30.0) -> float:
    """Wait (at most ``limit_s``) until a server tree is idle: wrk stops at its deadline, but a
    slow server goes on working off the requests it was given, which must not bleed into the
    next system's row. Returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit_s:
        before = tree_cpu_s(root)
        time.sleep(0.5)
        if tree_cpu_s(root) - before < 0.05:
            break
    return time.monotonic() - began


class PeakRss(threading.Thread):
    """The highest resident memory of a process tree while it runs (sampled every 0.25 s)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak = tree_rss_mib(root)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.25):
            self.peak = max(self.peak, tree_rss_mib(self.root))

    def __enter__(self) -> PeakRss:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop_event.set()
        self.join(timeout=5)


class Wrk:
    """wrk with our script, writing target lists under ``work``."""

    def __init__(self, work: Path) -> None:
        self.command = ensure_wrk()
        self.work = work
        self.script = work / "replay.lua"
        work.mkdir(parents=True, exist_ok=True)
        self.script.write_text(SCRIPT)

    def targets_file(self, name: str, targets: Sequence[str]) -> Path:
        path = self.work / f"targets-{name}.txt"
        path.write_text("\n".join(targets) + "\n")
        return path

    def run(
        self,
        base: str,
        targets: Path,
        *,
        seconds: float,
        connections: int,
        token: str = "",
        server_pid: int | None = None,
    ) -> dict[str, Any]:
        """One wrk run; requests/s, latency percentiles (ms), errors, and the server tree's
        peak RSS and CPU seconds when ``server_pid`` is given."""
        env = {**os.environ, "BENCH_TARGETS": str(targets), "BENCH_AUTH": token}
        args = [self.command, "-t", "1", "-c", str(connections), "-d", f"{max(1, round(seconds))}s"]
        args += ["--timeout", "30s", "-s", str(self.script), base]
        cpu_before = tree_cpu_s(server_pid) if server_pid else 0.0
        peak = PeakRss(server_pid) if server_pid else None
        if peak:
            peak.start()
        try:
            done = subprocess.run(
                args, capture_output=True, text=True, env=env, timeout=seconds + 120
            )
        finally:
            if peak:
                peak.__exit__()
        lines = [line for line in done.stdout.splitlines() if line.startswith('{"requests"')]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-500:]}")
        raw = json.loads(lines[-1])
        duration = raw["duration_us"] / 1e6
        errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
        return {
            "requests": raw["requests"],
            "seconds": duration,
            "per_second": raw["requests"] / duration if duration else 0.0,
            "median_ms": raw["p50_us"] / 1000,
            "p90_ms": raw["p90_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000,
            "errors": errors,
            "bytes_per_request": raw["bytes"] / raw["requests"] if raw["requests"] else 0,
            "peak_rss_mib": peak.peak if peak else None,
            "server_cpu_s": (tree_cpu_s(server_pid) - cpu_before) if server_pid else None,
        }


def merge(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one row as one: requests/s over all rounds, the median of the rounds'
    medians and p99s (wrk reports percentiles, not raw latencies), the highest RSS."""
    seconds = sum(r["seconds"] for r in runs)
    requests = sum(r["requests"] for r in runs)
    peaks = [r["peak_rss_mib"] for r in runs if r["peak_rss_mib"] is not None]
    cpu = [r["server_cpu_s"] for r in runs if r["server_cpu_s"] is not None]
    return {
        "rounds": len(runs),
        "requests": requests,
        "seconds": seconds,
        "per_second": requests / seconds if seconds else 0.0,
        "per_second_by_round": [r["per_second"] for r in runs],
        "median_ms": _middle([r["median_ms"] for r in runs]),
        "p99_ms": _middle([r["p99_ms"] for r in runs]),
        "errors": sum(r["errors"] for r in runs),
        "bytes_per_request": runs[-1]["bytes_per_request"],
        "peak_rss_mib": max(peaks) if peaks else None,
        "server_cpu_ms_per_request": 1000 * sum(cpu) / requests if cpu and requests else None,
    }


def _middle(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def wait_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``url`` answers 200 (the server is up)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}) before {url} answered")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")
