"""The JSON management API: accounts, tokens, collections, imports, exports and grants."""

import orjson
import psycopg
from psycopg import sql

from opengeomesh import samples
from opengeomesh.services import Services
from tests.conftest import InProcessClient, World


def test_me(client: InProcessClient, world: World) -> None:
    body = client.get("/manage/me", headers=world.auth("bob")).json()
    assert body["name"] == "bob" and body["groups"] == ["control-room"]
    assert client.get("/manage/me").status_code == 401


def test_users_are_for_operators(client: InProcessClient, world: World) -> None:
    assert client.get("/manage/users", headers=world.auth("alice")).status_code == 403
    created = client.post(
        "/manage/users", headers=world.auth("root"), json={"name": "dora", "display_name": "Dora"}
    )
    assert created.status_code == 201 and created.json()["name"] == "dora"
    again = client.post("/manage/users", headers=world.auth("root"), json={"name": "dora"})
    assert again.status_code == 409
    bad = client.post("/manage/users", headers=world.auth("root"), json={"name": "Dora Smith"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "name"
    extra = client.post("/manage/users", headers=world.auth("root"), json={"nam": "x"})
    assert extra.status_code == 400


def test_tokens_shown_once_and_withdrawn(client: InProcessClient, world: World) -> None:
    made = client.post(
        "/manage/users/carol/tokens", headers=world.auth("carol"), json={"label": "laptop"}
    )
    assert made.status_code == 201
    token = made.json()["token"]
    mine = {"Authorization": f"Bearer {token}"}
    assert client.get("/manage/me", headers=mine).json()["name"] == "carol"
    listed = client.get("/manage/users/carol/tokens", headers=world.auth("carol")).json()
    assert all("token" not in entry for entry in listed)
    assert (
        client.post("/manage/users/alice/tokens", headers=world.auth("carol"), json={}).status_code
        == 403
    )
    gone = client.delete(
        f"/manage/users/carol/tokens/{made.json()['id']}", headers=world.auth("carol")
    )
    assert gone.status_code == 204
    assert client.get("/manage/me", headers=mine).status_code == 401


def test_tokens_stored_only_as_hashes(world: World) -> None:
    database = stored_bytes(world.services)
    for token in world.tokens.values():
        assert token.encode() not in database


def stored_bytes(services: Services) -> bytes:
    """Everything the database holds: the SQLite file, or every row of every table of the
    PostgreSQL schema as text."""
    settings = services.settings
    if settings.database_kind == "sqlite":
        return settings.sqlite_path.read_bytes()
    found = []
    with psycopg.connect(settings.postgres_url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        for (table,) in tables:
            query = sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table))
            found += [row[0] for row in conn.execute(query)]
    assert len(found) > 10
    return "\n".join(found).encode()


def test_groups(client: InProcessClient, world: World) -> None:
    root = world.auth("root")
    assert client.post("/manage/groups", headers=root, json={"name": "staff"}).status_code == 201
    member = client.post("/manage/groups/staff/members", headers=root, json={"user": "carol"})
    assert member.json() == {"name": "staff", "members": ["carol"]}
    missing = client.post("/manage/groups/staff/members", headers=root, json={"user": "zed"})
    assert missing.status_code == 404


def test_collection_life(client: InProcessClient, world: World) -> None:
    carol = world.auth("carol")
    made = client.post(
        "/manage/collections", headers=carol, json={"id": "water-points", "title": "Water points"}
    )
    assert made.status_code == 201 and made.json()["access"] == "manage"
    body = orjson.dumps(samples.hydrants(30))
    imported = client.post(
        "/manage/collections/water-points/import",
        headers={**carol, "Content-Type": "application/geo+json"},
        content=body,
    )
    assert imported.json() == {"collection": "water-points", "imported": 30}
    exported = client.get("/manage/collections/water-points/export", headers=carol)
    assert exported.headers["content-type"] == "application/geo+json"
    assert orjson.loads(exported.content)["features"] == samples.hydrants(30)["features"]
    assert client.get("/collections/water-points").status_code == 401
    patched = client.patch(
        "/manage/collections/water-points",
        headers=carol,
        json={"public": True, "title": "Public water points"},
    )
    assert patched.json()["public"] is True
    assert client.get("/collections/water-points").json()["title"] == "Public water points"
    assert client.delete("/manage/collections/water-points", headers=carol).status_code == 204
    assert client.get("/collections/water-points", headers=carol).status_code == 404


def test_newline_delimited_import_and_a_bad_feature(client: InProcessClient, world: World) -> None:
    alice = world.auth("alice")
    lines = [orjson.dumps(f) for f in samples.hydrants(3)["features"]]
    lines[1] = b'{"type": "Feature", "geometry": {"type": "Point"}, "properties": {}}'
    refused = client.post(
        "/manage/collections/sectors/import",
        content=b"\n".join(lines),
        headers={**alice, "Content-Type": "application/x-ndjson"},
    )
    assert refused.status_code == 400
    assert refused.json()["parameter"] == "features[1].geometry.coordinates"
    assert client.get("/collections/sectors").json()["numberOfFeatures"] == 5


def test_grants_over_http(client: InProcessClient, world: World) -> None:
    alice = world.auth("alice")
    given = client.put(
        "/manage/collections/hydrants/grants",
        headers=alice,
        json={"subject": "user:carol", "permission": "read"},
    )
    assert {"subject": "user:carol", "permission": "read"} in given.json()
    assert client.get("/collections/hydrants", headers=world.auth("carol")).status_code == 200
    assert (
        client.delete("/manage/collections/hydrants/grants/user:carol", headers=alice).status_code
        == 204
    )
    assert client.get("/collections/hydrants", headers=world.auth("carol")).status_code == 404
    assert (
        client.get("/manage/collections/hydrants/grants", headers=world.auth("bob")).status_code
        == 403
    )
