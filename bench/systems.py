"""The systems ``bench/compare.py`` sets side by side: OpenGeoMesh (SQLite, PostgreSQL),
pygeoapi 0.21 (its SQLite and PostgreSQL providers) and the in-memory limit, all served by
uvicorn with the same number of workers on loopback ports, with the same generated points.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import orjson
import psycopg
from psycopg import sql

from loadgen import wait_http
from workload import BENCH_DIR, CLI, HOST, cli, cli_env, free_port, stop_process

PYGEOAPI = "0.21.*"
# Debian's Python: its sqlite3 can load extensions (mod_spatialite), which pygeoapi's SQLite
# provider needs; a Python built without that cannot serve SpatiaLite at all.
SYSTEM_PYTHON = Path("/usr/bin/python3.11")
PYGEOAPI_PACKAGES = ("starlette", "httptools", "psycopg2-binary", "sqlalchemy", "geoalchemy2")
DEFAULT_POSTGRES = "postgresql://ogm_test:ogm_test@127.0.0.1:5432/ogm_compare"
PYGEOAPI_SCHEMA = "pygeoapi"


def log(message: str) -> None:
    import time

    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def uvicorn_version() -> str:
    from importlib import metadata

    return metadata.version("uvicorn")


def ensure_pygeoapi(venv: Path) -> Path:
    """pygeoapi 0.21 with the same uvicorn as ours in its own virtual environment (made once,
    with pip from PyPI); mod_spatialite from Debian when missing. Returns its Python."""
    python = venv / "bin" / "python"
    ready = venv / f".ready-{PYGEOAPI.replace('*', 'x')}-uvicorn-{uvicorn_version()}"
    if not Path("/usr/lib/x86_64-linux-gnu/mod_spatialite.so").exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "libsqlite3-mod-spatialite"],
            check=True,
            env=env,
            timeout=600,
        )
    if ready.exists() and python.exists():
        return python
    log(f"installing pygeoapi {PYGEOAPI} into {venv}")
    shutil.rmtree(venv, ignore_errors=True)
    base = str(SYSTEM_PYTHON) if SYSTEM_PYTHON.exists() else sys.executable
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    packages = [f"pygeoapi=={PYGEOAPI}", f"uvicorn=={uvicorn_version()}", *PYGEOAPI_PACKAGES]
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", *packages], check=True, timeout=1200
    )
    ready.touch()
    return python


class Process:
    """A server subprocess on a free loopback port, ready once ``ready_path`` answers 200;
    stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        log_file: Path,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        ready_path: str = "/",
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.args = [a.replace("{port}", str(self.port)) for a in args]
        self.log_file = log_file
        self.env = env
        self.ready_path = ready_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> Process:
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        try:
            wait_http(self.url + self.ready_path, 120, self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process, timeout=20)


def uvicorn_args(python: Path, app: str, workers: int, *extra: str) -> list[str]:
    """uvicorn as ``opengeomesh serve`` runs it: httptools, access log on, ``workers``."""
    args = [str(python), "-m", "uvicorn", app, "--host", HOST, "--port", "{port}"]
    args += ["--http", "httptools", "--log-level", "info", *extra]
    return [*args, "--workers", str(workers)] if workers > 1 else args


def opengeomesh(
    name: str,
    data_dir: Path,
    log_file: Path,
    workers: int,
    database_url: str | None,
    settings: dict[str, str] | None = None,
) -> Process:
    """``opengeomesh serve``; ``settings`` as ``OGM_*`` variables (``{"page_cache_mib": "0"}``)."""
    args = [str(CLI), "serve", "--data", str(data_dir), "--host", HOST, "--port", "{port}"]
    args += ["--workers", str(workers)]
    if database_url:
        args += ["--database-url", database_url]
    env = cli_env()
    env.update({f"OGM_{k.upper()}": v for k, v in (settings or {}).items()})
    return Process(name, args, log_file, env=env)


def prepare_opengeomesh(
    data_dir: Path, database_url: str | None, layers: dict[str, Path]
) -> tuple[str, dict[str, float]]:
    """A data directory (and database) with the admin ``bench`` and ``layers`` imported as
    public collections; returns bench's token and the seconds each import took."""
    import time

    if data_dir.exists():
        shutil.rmtree(data_dir)
    db = ["--data", str(data_dir)] + (["--database-url", database_url] if database_url else [])
    cli("user", "add", "bench", "--admin", *db)
    token = cli("token", "create", "bench", "--label", "benchmark", *db)
    seconds = {}
    for layer, source in layers.items():
        began = time.perf_counter()
        cli(
            "collection",
            "import",
            layer,
            str(source),
            "--create",
            "--public",
            "--user",
            "bench",
            *db,
        )
        seconds[layer] = time.perf_counter() - began
    return token, seconds


# --- PostgreSQL ------------------------------------------------------------------------------


def fresh_postgres(url: str) -> str:
    """Drop and create the benchmark's own database (never the tests'), with PostGIS and a
    schema for pygeoapi's tables; returns the server's version."""
    parts = urlsplit(url)
    name, owner = parts.path.lstrip("/"), parts.username or "postgres"
    statements = [
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
        sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)),
    ]
    if os.geteuid() == 0 and shutil.which("runuser"):
        # as the postgres superuser (PostGIS needs one), the way .ci/run prepares the tests'
        for statement in statements:
            _as_postgres("postgres", statement.as_string(None))
        _as_postgres(name, "CREATE EXTENSION postgis")
    else:
        admin = parts._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(PYGEOAPI_SCHEMA)))
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def _as_postgres(database: str, statement: str) -> None:
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            database,
            "-c",
            statement,
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )


def load_postgis_table(url: str, table: str, source: Path) -> None:
    """The points as a PostGIS table for pygeoapi's PostgreSQL provider: the same columns,
    a primary key on ``id`` and a GiST index on the geometry, as an operator would make."""
    ident = sql.Identifier(PYGEOAPI_SCHEMA, table)
    with psycopg.connect(url) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id bigint PRIMARY KEY, name text, kind text,"
                " value double precision, geom geometry(Point, 4326))"
            ).format(ident)
        )
        copy = sql.SQL("COPY {} (id, name, kind, value, geom) FROM STDIN").format(ident)
        with conn.cursor().copy(copy) as out, source.open("rb") as lines:
            for line in lines:
                f = orjson.loads(line)
                p = f["properties"]
                x, y = f["geometry"]["coordinates"]
                out.write_row(
                    (f["id"], p["name"], p["kind"], p["value"], f"SRID=4326;POINT({x} {y})")
                )
        index = sql.Identifier(f"{table}_geom")
        conn.execute(sql.SQL("CREATE INDEX {} ON {} USING gist (geom)").format(index, ident))
        conn.execute(sql.SQL("ANALYZE {}").format(ident))


# --- pygeoapi --------------------------------------------------------------------------------

CONFIG_HEAD = """\
server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  languages: [en-US]
  pretty_print: false
  limits: {{default_items: 10, max_items: 10000}}
  map: {{url: 'https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png', attribution: OSM}}
logging: {{level: ERROR}}
metadata:
  identification:
    title: pygeoapi for the comparison
    description: the same points OpenGeoMesh serves
    keywords: [bench]
    keywords_type: theme
    terms_of_service: https://example.org
    url: https://example.org
  license: {{name: CC-BY 4.0, url: 'https://creativecommons.org/licenses/by/4.0/'}}
  provider: {{name: Bench, url: 'https://example.org'}}
  contact: {{name: Bench, email: bench@example.org, url: 'https://example.org'}}
resources:
"""

RESOURCE = """\
  {name}:
    type: collection
    title: {name}
    description: generated points
    keywords: [points]
    extents:
      spatial: {{bbox: [6.0, 46.0, 16.0, 56.0], crs: 'http://www.opengis.net/def/crs/OGC/1.3/CRS84'}}
    providers:
      - type: feature
        id_field: id
{provider}
"""

SQLITE_PROVIDER = """\
        name: SQLiteGPKG
        data: {data}
        table: {table}"""

POSTGRES_PROVIDER = """\
        name: PostgreSQL
        geom_field: geom
        table: {table}
        data:
          host: {host}
          port: {port}
          dbname: {dbname}
          user: {user}
          password: {password}
          search_path: [{schema}]"""


def pygeoapi_config(
    port: int, layers: dict[str, str], *, sqlite: Path | None = None, postgres: str | None = None
) -> str:
    """pygeoapi's configuration for ``layers`` (collection id → table name) on one provider."""
    text = CONFIG_HEAD.format(port=port)
    for name, table in layers.items():
        if sqlite is not None:
            provider = SQLITE_PROVIDER.format(data=sqlite, table=table)
        else:
            assert postgres is not None
            parts = urlsplit(postgres)
            provider = POSTGRES_PROVIDER.format(
                host=parts.hostname,
                port=parts.port or 5432,
                dbname=parts.path.lstrip("/"),
                user=parts.username,
                password=parts.password or "",
                table=table,
                schema=PYGEOAPI_SCHEMA,
            )
        text += RESOURCE.format(name=name, provider=provider)
    return text


def pygeoapi(
    name: str, python: Path, work: Path, config_text: str, port: int, workers: int
) -> Process:
    """pygeoapi's Starlette app under uvicorn (its OpenAPI document generated first)."""
    directory = work / name
    directory.mkdir(parents=True, exist_ok=True)
    config, openapi = directory / "pygeoapi.yml", directory / "openapi.yml"
    config.write_text(config_text)
    env = {**cli_env(), "PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    subprocess.run(
        [
            str(python.with_name("pygeoapi")),
            "openapi",
            "generate",
            str(config),
            "--output-file",
            str(openapi),
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    args = uvicorn_args(python, "pygeoapi.starlette_app:APP", workers)
    return Process(
        name, args, directory / "server.log", env=env, port=port, ready_path="/conformance?f=json"
    )


# --- the in-memory limit ---------------------------------------------------------------------


def memory_limit(
    work: Path,
    responses: dict[str, tuple[int, bytes, bytes]],
    workers: int,
    app: str = "memory_app:app",
) -> Process:
    """Our uvicorn serving ``responses`` (target → status, media type, body) from memory
    (``app``: the bare ASGI app, or ``memory_app:floor`` through FastAPI)."""
    captured = work / "memory-responses.pickle"
    responses.setdefault("/", (200, b"text/plain", b"ok"))
    captured.write_bytes(pickle.dumps(responses))
    env = {**cli_env(), "OGM_BENCH_RESPONSES": str(captured)}
    args = uvicorn_args(Path(sys.executable), app, workers, "--app-dir", str(BENCH_DIR))
    name = app.rpartition(":")[2]
    return Process(name, args, work / f"{name}-server.log", env=env)


def describe_pygeoapi(python: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            str(python),
            "-c",
            "import pygeoapi, uvicorn; print(pygeoapi.__version__, uvicorn.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    version, uvicorn = done.stdout.split()
    return {"pygeoapi": version, "uvicorn": uvicorn}
