"""The /api document validates as OpenAPI 3.0 and declares what clients rely on."""

from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from opengeomesh.api.openapi import OCM_SCHEMAS, SCHEMAS
from opengeomesh.api.routes import install_routes
from opengeomesh.features.query import ITEM_PARAMETERS, ITEMS_PARAMETERS
from opengeomesh.ocm.addresses import OcmAddress
from opengeomesh.ocm.models import ShareType
from opengeomesh.ocm.payloads import NOTIFICATION_TYPES, notification_body, share_body
from tests.conftest import InProcessClient

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def document(client: InProcessClient) -> dict[str, Any]:
    return dict(client.get("/api").json())


def schema_of(document: dict[str, Any], schema: dict[str, Any]) -> OAS30Validator:
    """A validator for a schema of the document, its references resolved in it."""
    return OAS30Validator({**schema, "components": document["components"]})


def check_answer(document: dict[str, Any], path: str, response: httpx.Response) -> None:
    """The answer's status is declared for ``POST path`` and its body has the declared shape."""
    declared = document["paths"][path]["post"]["responses"]
    status = str(response.status_code)
    assert status in declared, f"{path} answered {status}, which it does not declare"
    media = response.headers["content-type"].split(";")[0]
    schema_of(document, declared[status]["content"][media]["schema"]).validate(response.json())


def test_document_validates(client: InProcessClient) -> None:
    response = client.get("/api")
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    document = response.json()
    assert document["openapi"].startswith("3.0")
    validate(document)


def test_security_and_parameters_declared(client: InProcessClient) -> None:
    document = client.get("/api").json()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    items = "/collections/{collectionId}/items"
    expected = {
        items: {"collectionId", *ITEMS_PARAMETERS},
        items + "/{featureId}": {"collectionId", "featureId", *ITEM_PARAMETERS},
    }
    for path, names in expected.items():
        parameters = document["paths"][path]["get"]["parameters"]
        assert {ref["$ref"].rsplit("/", 1)[1] for ref in parameters} == names, path
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("security"), f"{method} {path} declares no security"
            # OCM's GET documents take no parameters, so they have no 400 to declare
            if not (path.startswith(("/.well-known/", "/ocm")) and method == "get"):
                assert "400" in operation["responses"], f"{method} {path} has no 400"


def test_ocm_endpoints_are_described(client: InProcessClient) -> None:
    document = client.get("/api").json()
    for path in ("/.well-known/ocm", "/ocm-provider", "/ocm/jwks"):
        assert "200" in document["paths"][path]["get"]["responses"]
    accepted = document["paths"]["/ocm/invite-accepted"]["post"]["responses"]
    assert {"200", "400", "401", "403", "409", "413", "415"} <= set(accepted)


def test_ocm_sharing_endpoints_are_described(document: dict[str, Any]) -> None:
    paths = document["paths"]
    failures = {"400", "401", "403", "413", "415", "500", "501", "503"}
    for path, body in (("/ocm/shares", "NewShare"), ("/ocm/notifications", "NewNotification")):
        operation = paths[path]["post"]
        assert "RFC 9421" in operation["description"] and 'tag="ocm"' in operation["description"]
        content = operation["requestBody"]["content"]
        assert content["application/json"]["schema"]["$ref"].endswith(f"/{body}")
        responses = operation["responses"]
        assert {"201"} | failures <= set(responses), path
        invalid = responses["400"]["content"]["application/json"]["schema"]
        assert invalid["$ref"].endswith("/OcmValidationError")
        assert "Retry-After" in responses["503"]["headers"]
    created = paths["/ocm/shares"]["post"]["responses"]["201"]["content"]["application/json"]
    assert created["schema"]["$ref"].endswith("/NewShareResponse")

    token = paths["/ocm/token"]["post"]
    assert "RFC 9421" in token["description"]
    assert set(token["requestBody"]["content"]) == {FORM, "application/json"}
    assert set(token["responses"]) == {"200", "400", "401", "413", "429", "500", "503"}
    ok = token["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/TokenResponse")
    assert "Cache-Control" in ok["headers"]
    assert "WWW-Authenticate" in token["responses"]["401"]["headers"]
    schemas = document["components"]["schemas"]
    assert set(schemas["TokenRequest"]["required"]) == {"grant_type", "client_id", "code"}
    assert "redirect_uri" in schemas["TokenRequest"]["properties"]
    assert schemas["TokenResponse"]["properties"]["token_type"]["enum"] == ["Bearer"]
    assert set(schemas["OAuthError"]["properties"]["error"]["enum"]) == {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "server_error",
        "temporarily_unavailable",  # busy (503) or over the rate limit (429)
    }
    assert "tokenEndPoint" in schemas["OcmDiscovery"]["properties"]


def test_discovery_answers_as_described(client: InProcessClient, document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["OcmDiscovery"]
    for path in ("/.well-known/ocm", "/ocm-provider"):
        found = client.get(path).json()
        schema_of(document, schema).validate(found)
        assert set(found) <= set(schema["properties"]), "a member is not described"
        assert found["tokenEndPoint"].endswith("/ocm/token")


def test_our_own_messages_follow_the_document(document: dict[str, Any]) -> None:
    """What this server sends to others is what it says it takes from them."""
    schemas = document["components"]["schemas"]
    for permission in ("read", "write"):
        share = share_body(
            share_with="einsatzleitung@maps.leitstelle-nord.example",
            share_type=ShareType.GROUP,
            provider_id="q7Vd2kP9sXwR4mLc8ZtB1n",
            name="Hydranten",
            description="",
            owner=OcmAddress("alice", "maps.example"),
            owner_name="Alice",
            sender=OcmAddress("alice", "maps.example"),
            sender_name="Alice",
            uri="https://maps.example/collections/hydrants",
            secret="Xk3uN8pQ2vR6tY0wA4sD7fG1hJ5lZ9cB",
            permission=permission,
        )
        schema_of(document, schemas["NewShare"]).validate(share)
    for kind in NOTIFICATION_TYPES:
        body = orjson.loads(notification_body(kind, "q7Vd2kP9sXwR4mLc8ZtB1n", {}))
        schema_of(document, schemas["NewNotification"]).validate(body)
    form = {"grant_type": "authorization_code", "client_id": "a.example", "code": "s" * 32}
    schema_of(document, schemas["TokenRequest"]).validate(form)


def test_ocm_refusals_answer_as_described(
    client: InProcessClient, document: dict[str, Any]
) -> None:
    share = {"shareWith": "bob@ogm.test", "sender": "alice@a.example", "owner": "alice@a.example"}
    cases: list[tuple[str, bytes, str, int]] = [
        ("/ocm/shares", b"{}", "application/json", 400),  # no sender
        ("/ocm/shares", orjson.dumps(share), "application/json", 0),  # unsigned: 401 or 403
        ("/ocm/shares", b"{}", "text/plain", 415),
        ("/ocm/shares", b" " * 70000, "application/json", 413),
        ("/ocm/notifications", b"{}", "application/json", 401),  # unsigned
        ("/ocm/token", b"code=x", "text/plain", 400),
        ("/ocm/token", b"grant_type=password&client_id=a.example&code=x", FORM, 400),
        ("/ocm/token", b"grant_type=authorization_code&client_id=a.example&code=x", FORM, 401),
        ("/ocm/token", b"=" * 70000, FORM, 413),
    ]
    for path, body, media, status in cases:
        response = client.post(path, content=body, headers={"Content-Type": media})
        if status:
            assert response.status_code == status, (path, response.text)
        else:
            assert response.status_code in (401, 403), response.text
        check_answer(document, path, response)
        if path == "/ocm/token":
            assert response.headers["cache-control"] == "no-store"
    no_sender = client.post("/ocm/shares", json={})
    assert no_sender.json()["validationErrors"] == [{"name": "sender", "message": "MISSING"}]


def test_every_route_is_described(client: InProcessClient) -> None:
    document = client.get("/api").json()
    for path in (
        "/manage/users",
        "/manage/collections/{collection_id}/import",
        "/manage/collections/{collection_id}/grants/{subject}",
        "/manage/shares",
        "/manage/shares/{share_id}",
        "/manage/received-shares",
        "/manage/received-shares/{share_id}/accept",
        "/manage/received-shares/{share_id}/decline",
        "/manage/received-shares/{share_id}/access",
        "/manage/collections/{collection_id}/sharing-rules",
        "/manage/collections/{collection_id}/sharing-rules/{domain}",
    ):
        assert path in document["paths"]


def test_answers_of_other_servers_are_declared(document: dict[str, Any]) -> None:
    paths = document["paths"]
    waits = {"502": "PeerFailed", "504": "PeerTimeout"}
    for path in (
        "/collections/{collectionId}",
        "/collections/{collectionId}/items",
        "/collections/{collectionId}/items/{featureId}",
    ):  # mounted shares (ocm-N) are read from their sender
        responses = paths[path]["get"]["responses"]
        assert {"403", "503"} <= set(responses)
        for status, name in waits.items():
            assert responses[status]["$ref"] == f"#/components/responses/{name}", path
    for path in ("/manage/invites/accept", "/manage/received-shares/{share_id}/access"):
        responses = paths[path]["post"]["responses"]
        for status, name in waits.items():
            assert responses[status]["$ref"] == f"#/components/responses/{name}", path
    # the recipient's server is asked from the outbox: a share is made even when it is down
    assert "502" not in paths["/manage/shares"]["post"]["responses"]
    timeout = document["components"]["responses"]["PeerTimeout"]
    assert "application/problem+json" in timeout["content"]


def test_written_schemas_do_not_shadow_generated_ones() -> None:
    app = FastAPI()
    install_routes(app)
    generated = get_openapi(title="t", version="0", routes=app.routes)
    names = set(generated["components"]["schemas"])
    assert not names & (set(SCHEMAS) | set(OCM_SCHEMAS))


def test_the_editing_operations_are_described(client: InProcessClient) -> None:
    paths = client.get("/api").json()["paths"]
    items = paths["/collections/{collectionId}/items"]
    feature = paths["/collections/{collectionId}/items/{featureId}"]
    assert {"get", "post", "options"} <= set(items)
    assert {"get", "put", "patch", "delete", "options"} <= set(feature)
    assert "Location" in items["post"]["responses"]["201"]["headers"]
    assert "412" in feature["put"]["responses"] and "415" in feature["patch"]["responses"]
