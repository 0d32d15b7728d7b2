"""A real server process on loopback, prepared and driven through the real CLI."""

import http.client
import json
import stat
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

import httpx
import orjson

from opengeomesh import samples
from tests.conftest import LiveServer, cli, start_server, stop_server
from tests.postgres import fresh_database_url


def raw_request(url: str, method: str, path: str, headers: dict[str, str]) -> tuple[str, bytes]:
    """The status line as sent, and the raw body (http.client reads both as they are)."""
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    status_line = f"HTTP/{response.version // 10}.{response.version % 10} {response.status}"
    body = response.read()
    connection.close()
    return status_line, body


def test_http11_and_head_without_body(live_server: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {live_server.token}"}
    status, body = raw_request(live_server.url, "GET", "/collections/hydrants/items", auth)
    assert status == "HTTP/1.1 200" and json.loads(body)["numberReturned"] == 100
    status, body = raw_request(live_server.url, "HEAD", "/collections/hydrants/items", auth)
    assert status == "HTTP/1.1 200" and body == b""


def test_protected_layer_needs_the_token(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.url}/collections/hydrants/items")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_links_use_the_public_url(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, "--public-url", "https://maps.example.org/ogm/")
    try:
        body = httpx.get(f"{server.url}/").json()
    finally:
        stop_server(server)
    assert all(link["href"].startswith("https://maps.example.org/ogm/") for link in body["links"])


def test_first_start_creates_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    server = start_server(data, "--sample")
    try:
        listed = httpx.get(f"{server.url}/collections").json()["collections"]
    finally:
        stop_server(server)
    output = server.output()
    assert (data / "opengeomesh.sqlite").is_file()
    assert [c["id"] for c in listed] == ["hydrants"]
    assert "Token of user 'demo'" in output


def test_cli_accounts_and_collections(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cli("user", "add", "alice", "--display-name", "Alice Example", data=data)
    cli("user", "add", "bob", data=data)
    cli("group", "add", "control-room", data=data)
    cli("group", "add-member", "control-room", "bob", data=data)
    assert "bob" in cli("group", "list", data=data).stdout
    assert "Alice Example" in cli("user", "list", data=data).stdout
    source = tmp_path / "sectors.geojsonl"
    source.write_bytes(b"\n".join(orjson.dumps(f) for f in samples.incident_sectors()["features"]))
    cli(
        "collection",
        "import",
        "sectors",
        str(source),
        "--create",
        "--user",
        "alice",
        "--temporal-property",
        "established",
        data=data,
    )
    cli(
        "collection",
        "grant",
        "sectors",
        "group:control-room",
        "--permission",
        "read",
        "--user",
        "alice",
        data=data,
    )
    listed = cli("collection", "list", "--user", "bob", data=data).stdout
    assert "sectors" in listed and "read" in listed
    exported = tmp_path / "out.geojson"
    cli("collection", "export", "sectors", str(exported), "--user", "bob", data=data)
    assert orjson.loads(exported.read_bytes()) == samples.incident_sectors()
    refused = cli("collection", "delete", "sectors", "--user", "bob", data=data, check=False)
    assert refused.returncode == 2 and "only the owner" in refused.stderr
    cli("collection", "delete", "sectors", "--user", "alice", data=data)
    assert "sectors" not in cli("collection", "list", data=data).stdout


def test_cli_import_refuses_a_bad_file_whole(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cli("user", "add", "alice", data=data)
    features = samples.hydrants(20)["features"]
    features[13]["geometry"]["coordinates"] = [200, 51]
    source = tmp_path / "bad.geojson"
    source.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": features}))
    cli("collection", "create", "hydrants", "--user", "alice", data=data)
    result = cli(
        "collection", "import", "hydrants", str(source), "--user", "alice", data=data, check=False
    )
    assert result.returncode == 2
    assert "features[13].geometry.coordinates" in result.stderr
    assert "│ 0 " in cli("collection", "list", data=data).stdout


def test_config_check_and_db_upgrade(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.toml").write_text('title = "Leitstelle Nord"\nport = 8181\n')
    shown = json.loads(cli("config", "check", data=data).stdout)
    assert shown["title"] == "Leitstelle Nord" and shown["port"] == 8181
    migrations = resources.files("opengeomesh.storage.migrations").joinpath("versions").iterdir()
    newest = max(m.name[:4] for m in migrations if m.name.endswith(".py"))
    assert f"schema revision {newest}" in cli("db", "upgrade", data=data).stdout
    bad = cli("config", "check", "--database-url", "mysql://x", data=data, check=False)
    assert bad.returncode == 2 and "database_url" in bad.stderr


def test_token_printed_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cli("user", "add", "alice", data=data)
    result = cli("token", "create", "alice", data=data)
    assert result.stdout.strip().startswith("ogm_") and len(result.stdout.split()) == 1
    mode = stat.S_IMODE((data / "opengeomesh.sqlite").stat().st_mode)
    assert mode & stat.S_IWOTH == 0
    assert "│ 1  │" in cli("token", "list", "alice", data=data).stdout
    cli("token", "delete", "alice", "1", data=data)
    assert "│ 1  │" not in cli("token", "list", "alice", data=data).stdout
    missing = cli("token", "delete", "alice", "1", data=data, check=False)
    assert missing.returncode == 2 and "no token 1" in missing.stderr


def test_cli_shows_stored_text_as_text(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cli("user", "add", "alice", data=data)
    cli("collection", "create", "mk", "--title", "[/b] oops [red]", "--user", "alice", data=data)
    listed = cli("collection", "list", data=data)
    assert "[/b] oops [red]" in listed.stdout
    bad = cli("user", "add", "[bold]x", data=data, check=False)
    assert bad.returncode == 2 and "'[bold]x' is not a valid name" in bad.stderr
    missing = cli(
        "collection", "export", "mk", str(tmp_path / "no" / "out.geojson"), data=data, check=False
    )
    assert missing.returncode == 2 and missing.stderr.startswith("error:")
    assert not (tmp_path / "no").exists()


def test_db_upgrade_and_a_server_on_postgresql(tmp_path: Path) -> None:
    """`db upgrade --database-url postgresql://…` brings an empty database to the newest
    revision; the commands and a server with two workers then keep everything in it."""
    data = tmp_path / "data"
    with fresh_database_url() as url:
        db = ("--database-url", url)
        migrations = resources.files("opengeomesh.storage.migrations").joinpath("versions")
        newest = max(m.name[:4] for m in migrations.iterdir() if m.name.endswith(".py"))
        assert f"schema revision {newest}" in cli("db", "upgrade", *db, data=data).stdout
        cli("user", "add", "alice", *db, data=data)
        secret = cli("token", "create", "alice", *db, data=data).stdout.strip()
        source = tmp_path / "hydrants.geojson"
        source.write_bytes(orjson.dumps(samples.hydrants(30)))
        cli(
            "collection",
            "import",
            "hydrants",
            str(source),
            "--create",
            "--user",
            "alice",
            *db,
            data=data,
        )
        assert not (data / "opengeomesh.sqlite").exists()
        server = start_server(data, *db, "--workers", "2")
        try:
            auth = {"Authorization": f"Bearer {secret}"}
            for _ in range(6):
                page = httpx.get(f"{server.url}/collections/hydrants/items", headers=auth)
                assert page.status_code == 200 and page.json()["numberMatched"] == 30
        finally:
            stop_server(server)
