"""Every management operation is described fully in /api, so other languages can generate a
client from it: an operationId, a summary and description, its request body, its answer's
schema, and the problem responses it can give."""

import inspect
from typing import Any

from opengeomesh.api.bodies import Body
from opengeomesh.api.routes import MANAGE_ROUTES
from tests.conftest import InProcessClient

PROBLEM = "#/components/schemas/Problem"
EVERY_OPERATION = {"400", "401", "403", "404", "503"}


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = document["components"][kind][name]
    return node


def takes_body(endpoint: Any) -> bool:
    hints = inspect.get_annotations(endpoint, eval_str=True)
    return any(isinstance(h, type) and issubclass(h, Body) for h in hints.values())


def test_every_management_operation_is_complete(client: InProcessClient) -> None:
    document = client.get("/api").json()
    seen_ids: set[str] = set()
    checked = 0
    for route in MANAGE_ROUTES:
        for method in (m.lower() for m in route.methods if m != "HEAD"):
            where = f"{method.upper()} {route.path}"
            operation = document["paths"].get(route.path, {}).get(method)
            assert operation is not None, f"{where} is not in the document"
            op_id = operation.get("operationId", "")
            assert op_id.isidentifier() and op_id not in seen_ids, f"{where}: operationId {op_id}"
            seen_ids.add(op_id)
            assert operation.get("summary") and operation.get("description"), where
            assert operation["security"] == [{"bearerAuth": []}], where

            body = operation.get("requestBody")
            if takes_body(route.endpoint) or route.extra.get("openapi_extra"):
                assert body and body["required"], f"{where} does not describe its body"
                for media, content in body["content"].items():
                    assert resolve(document, content["schema"]), f"{where}: {media} has no schema"
            else:
                assert body is None, f"{where} describes a body it does not take"

            responses = operation["responses"]
            success = str(route.status_code or 200)
            assert [s for s in responses if s.startswith("2")] == [success], where
            if success == "204":
                assert "content" not in responses[success], where
            else:
                content = responses[success].get("content")
                assert content, f"{where} does not describe its answer"
                for media, described in content.items():
                    schema = resolve(document, described["schema"])
                    assert schema.get("type") in ("object", "array"), f"{where}: {media}"

            assert set(responses) >= EVERY_OPERATION, f"{where} lacks error responses"
            if body is not None:
                assert "409" in responses, f"{where} takes a body but declares no 409"
            for status, answer in responses.items():
                if status.startswith(("4", "5")):
                    problem = resolve(document, answer)["content"]["application/problem+json"]
                    assert problem["schema"]["$ref"] == PROBLEM, f"{where} {status}"
            checked += 1
    assert checked == sum(len([m for m in r.methods if m != "HEAD"]) for r in MANAGE_ROUTES)


def test_no_management_operation_is_undocumented(client: InProcessClient) -> None:
    """Nothing under /manage in the document that the route table does not hold, and the
    other way round: the document is the route table."""
    document = client.get("/api").json()
    described = {
        (path, method)
        for path, operations in document["paths"].items()
        if path.startswith("/manage")
        for method in operations
    }
    table = {(r.path, m.lower()) for r in MANAGE_ROUTES for m in r.methods if m != "HEAD"}
    assert described == table


def test_errors_answer_as_described(client: InProcessClient, world: Any) -> None:
    """A real refusal of each kind has the body the document declares for it."""
    document = client.get("/api").json()
    problem = document["components"]["schemas"]["Problem"]
    alice = world.auth("alice")
    answers = {
        "401": client.get("/manage/shares"),
        "400": client.post("/manage/shares", headers=alice, json={"collection": "hydrants"}),
        "403": client.get("/manage/peers", headers=alice),
        "404": client.get("/manage/shares/77", headers=alice),
        "409": client.post("/manage/collections", headers=alice, json={"id": "hydrants"}),
    }
    for status, response in answers.items():
        assert str(response.status_code) == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        found = response.json()
        assert set(problem["required"]) <= set(found) <= set(problem["properties"]), found
