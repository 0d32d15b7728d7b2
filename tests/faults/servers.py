"""A real ``opengeomesh serve`` for the fault and load tests, on SQLite or on a fresh
PostgreSQL schema: prepared through the CLI, started, killed with SIGKILL, started again."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import Server, child_processes, cli, free_port, start_server, stop_server
from tests.postgres import fresh_database_url


@dataclass
class Served:
    """A server's data directory, its port, the user alice's token, and the running process."""

    data: Path
    port: int
    auth: dict[str, str]
    extra: tuple[str, ...] = ()
    server: Server | None = None
    database_url: str | None = field(default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.server = start_server(self.data, *self.extra, port=self.port)
        return self.server

    def kill(self) -> None:
        """SIGKILL the server and its workers: no shutdown, no flush, as a crash or the OOM
        killer would end it."""
        assert self.server is not None
        workers = child_processes(self.server.process.pid)
        self.server.process.send_signal(signal.SIGKILL)
        for pid in workers:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.server.process.wait(timeout=10)
        self.server = None

    def stop(self) -> None:
        if self.server is not None and self.server.process.poll() is None:
            stop_server(self.server)
        self.server = None


@contextmanager
def served(
    base: Path,
    database: str,
    *,
    config: str = "",
    extra: tuple[str, ...] = (),
    postgres_port: int | None = None,
) -> Iterator[Served]:
    """A server for alice on ``database`` (sqlite or postgresql), started; stopped after. Its
    data directory is ``base / "data"`` (which may exist: a mount point); PostgreSQL is reached
    on ``postgres_port`` if given (a proxy's)."""
    with ExitStack() as stack:
        port = free_port()
        data = base / "data"
        data.mkdir(parents=True, exist_ok=True)
        url = None
        if database == "postgresql":
            url = stack.enter_context(fresh_database_url())
            if postgres_port is not None:
                url = url.replace("127.0.0.1:5432", f"127.0.0.1:{postgres_port}", 1)
                assert str(postgres_port) in url, "the test database is expected on 5432"
            config += f'database_url = "{url}"\n'
        (data / "config.toml").write_text(f'public_url = "http://127.0.0.1:{port}"\n{config}')
        cli("user", "add", "alice", data=data)
        secret = cli("token", "create", "alice", data=data).stdout.strip()
        it = Served(data, port, {"Authorization": f"Bearer {secret}"}, extra, database_url=url)
        stack.callback(it.stop)
        it.start()
        yield it
