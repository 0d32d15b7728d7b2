"""OWSLib reads collections and items; each client runs in its own process, since OWSLib keeps
request headers in a module-level dict that leaks between instances."""

import json
import subprocess
import sys

from opengeomesh import samples
from tests.conftest import LiveServer

SCRIPT = """
import json, sys
from owslib.ogcapi.features import Features
url, token = sys.argv[1], sys.argv[2]
headers = {"Authorization": "Bearer " + token} if token else None
api = Features(url, headers=headers)
result = {"collections": [c["id"] for c in api.collections()["collections"]]}
if token:
    page = api.collection_items("hydrants", limit=50, offset=100)
    result["ids"] = [f["id"] for f in page["features"]]
    result["matched"] = page["numberMatched"]
    result["one"] = api.collection_item("hydrants", "7")["properties"]["kind"]
    result["conformance"] = api.conformance()["conformsTo"]
    text = "diameter_mm = 100 AND kind LIKE 'u%'"
    filtered = api.collection_items("hydrants", filter=text, limit=2000)
    result["filtered"] = sorted(f["id"] for f in filtered["features"])
    result["queryables"] = sorted(api.collection_queryables("hydrants")["properties"])
print(json.dumps(result))
"""


def owslib(url: str, token: str) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, url, token],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_owslib_reads_with_a_token(live_server: LiveServer) -> None:
    result = owslib(live_server.url, live_server.token)
    assert result["collections"] == ["hydrants"]
    assert result["ids"] == list(range(101, 151)) and result["matched"] == 1234
    assert result["one"] in ("underground", "pillar", "wall")
    assert any(c.endswith("ogcapi-features-1/1.0/conf/core") for c in result["conformance"])
    assert result["filtered"] == sorted(
        f["id"]
        for f in samples.hydrants(1234)["features"]
        if f["properties"]["diameter_mm"] == 100 and f["properties"]["kind"].startswith("u")
    )
    assert len(result["filtered"]) > 50
    assert result["queryables"] == ["checked", "diameter_mm", "flow_l_min", "geometry", "kind"]


def test_owslib_without_a_token_sees_nothing_private(live_server: LiveServer) -> None:
    assert owslib(live_server.url, "")["collections"] == []
