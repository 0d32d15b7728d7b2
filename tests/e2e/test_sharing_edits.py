"""Editing shared layers (OGC API – Features Part 4) with real servers and a real client:
OWSLib, one process per client, edits with a write share's token on A and through B's mounted
layer; a read share changes nothing; two editors with the same If-Match: exactly one wins."""

import json
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import orjson

from tests.e2e.orgs import Org, eventually, share_and_accept, token

# B keeps answers of mounted layers (test_b_keeps_a_mounted_page_until_a_reports_a_change);
# no rate limits, whose counts, written about once a second, would drop B's kept answers too
B_CONFIG = "page_cache_mounts = true\nrate_limit_per_minute_token = 0\n"

EDIT = """
import json, sys
from owslib.ogcapi.features import Features
url, secret, collection = sys.argv[1], sys.argv[2], sys.argv[3]
api = Features(url, headers={"Authorization": "Bearer " + secret})
feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.94, 51.53]},
           "properties": {"callsign": "Florian 99/1", "status": "on the way"}}
result = {}
try:
    api.collection_item_create(collection, feature)
except RuntimeError as exc:
    print(json.dumps({"refused": str(exc)}))
    sys.exit(0)
location = api.response_headers["Location"]
fid = location.rsplit("/items/", 1)[1]
result["location"], result["id"] = location, fid
feature["properties"]["status"] = "on scene"
api.collection_item_update(collection, fid, feature)
result["after_update"] = api.collection_item(collection, fid)["properties"]["status"]
api.collection_item_delete(collection, fid)
result["deleted"] = True
print(json.dumps(result))
"""


def owslib_edit(url: str, secret: str, collection: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", EDIT, url, secret, collection],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(done.stdout))


def test_owslib_edits_with_a_write_share(sharing_orgs: tuple[Org, Org]) -> None:
    a, b = sharing_orgs
    alice = token(a, "alice")
    received = share_and_accept(a, b, "vehicles", "write")
    bob_secret = b.cli("token", "create", "bob").stdout.strip()
    direct = httpx.post(
        f"{b.url}/manage/received-shares/{received['id']}/access",
        headers={"Authorization": f"Bearer {bob_secret}"},
    ).json()
    before = httpx.get(f"{a.url}/collections/vehicles/items", headers=alice).json()

    elsewhere = httpx.post(  # a share's token edits its own collection only
        f"{a.url}/collections/hydrants/items",
        headers={
            "Authorization": f"Bearer {direct['access_token']}",
            "Content-Type": "application/geo+json",
        },
        content=b'{"type": "Feature", "geometry": null, "properties": {}}',
    )
    assert elsewhere.status_code == 404
    on_a = owslib_edit(a.url, direct["access_token"], "vehicles")
    assert on_a["location"].startswith(f"{a.url}/collections/vehicles/items/")
    assert on_a["after_update"] == "on scene" and on_a["deleted"]

    through_b = owslib_edit(b.url, bob_secret, received["collection"])
    assert through_b["location"].startswith(f"{received['mount_url']}/items/")
    assert through_b["after_update"] == "on scene" and through_b["deleted"]
    assert (
        httpx.get(f"{a.url}/collections/vehicles/items", headers=alice).json()["features"]
        == (before["features"])
    )

    changes = httpx.get(f"{a.url}/manage/collections/vehicles/changes", headers=alice).json()
    actors = {c["actor"] for c in changes}
    assert any(actor.startswith(f"bob@{b.host} (share ") for actor in actors), actors
    assert [c["action"] for c in changes[:3]] == ["delete", "replace", "create"]

    # a feature made through B keeps its id on A, and B answers with A's ETag
    made = httpx.post(
        f"{received['mount_url']}/items",
        headers={"Authorization": f"Bearer {bob_secret}", "Content-Type": "application/geo+json"},
        content=orjson.dumps(
            {"type": "Feature", "id": "vehicle-99", "geometry": None, "properties": {"x": 1}}
        ),
    )
    assert made.status_code == 201 and made.headers["location"].endswith("/items/vehicle-99")
    on_a_now = httpx.get(f"{a.url}/collections/vehicles/items/vehicle-99", headers=alice)
    assert on_a_now.headers["etag"] == made.headers["etag"]


def test_a_read_share_changes_nothing(sharing_orgs: tuple[Org, Org]) -> None:
    a, b = sharing_orgs
    alice = token(a, "alice")
    received = share_and_accept(a, b, "sectors", "read")
    bob_secret = b.cli("token", "create", "bob").stdout.strip()
    before = httpx.get(f"{a.url}/collections/sectors/items", headers=alice).json()["features"]
    through_b = owslib_edit(b.url, bob_secret, received["collection"])
    assert "read-only" in through_b["refused"]
    direct = httpx.post(
        f"{b.url}/manage/received-shares/{received['id']}/access",
        headers={"Authorization": f"Bearer {bob_secret}"},
    ).json()
    on_a = owslib_edit(a.url, direct["access_token"], "sectors")
    assert "may read but not change" in on_a["refused"]
    options = httpx.request(
        "OPTIONS",
        f"{a.url}/collections/sectors/items",
        headers={"Authorization": f"Bearer {direct['access_token']}"},
    )
    assert "POST" not in options.headers["allow"]
    assert (
        httpx.get(f"{a.url}/collections/sectors/items", headers=alice).json()["features"] == before
    )


def race(url: str, auth: dict[str, str], etag: str, round_: int) -> dict[str, int]:
    """Two editors PUT the same feature at the same moment with the same If-Match."""
    barrier = threading.Barrier(2)
    answers: dict[str, int] = {}

    def edit(name: str) -> None:
        body = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [9.9, 51.5]},
            "properties": {"editor": name, "round": round_},
        }
        barrier.wait()
        answer = httpx.put(
            url,
            headers={**auth, "Content-Type": "application/geo+json", "If-Match": etag},
            content=orjson.dumps(body),
        )
        answers[name] = answer.status_code

    threads = [threading.Thread(target=edit, args=(n,)) for n in ("north", "south")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_two_editors_with_the_same_etag(sharing_orgs: tuple[Org, Org]) -> None:
    a, _ = sharing_orgs
    alice = token(a, "alice")
    url = f"{a.url}/collections/hydrants/items/5"
    for round_ in range(5):
        etag = httpx.get(url, headers=alice).headers["etag"]
        answers = race(url, alice, etag, round_)
        assert sorted(answers.values()) == [200, 412], answers
        winner = next(n for n, status in answers.items() if status == 200)
        stored = httpx.get(url, headers=alice).json()["properties"]
        assert stored == {"editor": winner, "round": round_}


def test_b_keeps_a_mounted_page_until_a_reports_a_change(sharing_orgs: tuple[Org, Org]) -> None:
    """B answers a mounted page asked for again from memory while it follows A's change feed:
    A's edits reach B's readers within the feed's latency, B's own edits at once, and a
    revoked share is refused within moments (``page_cache_mounts``, on for B in this module)."""
    a, b = sharing_orgs
    alice, bob = token(a, "alice"), token(b, "bob")
    mount_url = share_and_accept(a, b, "hydrants", "write")["mount_url"]
    page = f"{mount_url}/items?limit=5"
    with httpx.Client(headers=bob) as reader:

        def kept() -> httpx.Response | None:
            answer = reader.get(page)
            assert answer.status_code == 200, answer.text
            return answer if "age" in answer.headers else None

        first = reader.get(page).json()
        from_memory = eventually(kept, 10)
        assert from_memory is not None, "B never answered the mounted page from memory"
        assert from_memory.json()["features"] == first["features"]
        matched = first["numberMatched"]

        # an edit at A: B's readers see it as soon as A's change feed tells B
        made = httpx.post(
            f"{a.url}/collections/hydrants/items",
            headers={**alice, "Content-Type": "application/geo+json"},
            content=orjson.dumps(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [9.9, 51.5]},
                    "properties": {"kind": "pillar"},
                }
            ),
        )
        assert made.status_code == 201, made.text
        began = time.monotonic()
        seen = eventually(lambda: reader.get(page).json()["numberMatched"] == matched + 1, 10)
        assert seen, "B kept answering the page from before A's edit"
        assert time.monotonic() - began < 5  # the feed's latency, with room for a busy machine

        # an edit through B: the very next read through B shows it
        eventually(kept, 10)
        deleted = reader.delete(f"{mount_url}/items/{made.json()['id']}")
        assert deleted.status_code == 204, deleted.text
        after = reader.get(page)
        assert "age" not in after.headers and after.json()["numberMatched"] == matched

        # revoked at A: B refuses the mounted page as soon as it learns of it
        eventually(kept, 10)
        listed = httpx.get(f"{a.url}/manage/shares", headers=alice).json()
        share = next(s for s in listed if s["collection"] == "hydrants")
        assert httpx.delete(f"{a.url}/manage/shares/{share['id']}", headers=alice).is_success
        assert eventually(lambda: reader.get(page).status_code == 404, 5)
