"""The /api document validates as OpenAPI 3.0 and declares what clients rely on."""

from openapi_spec_validator import validate

from tests.conftest import InProcessClient


def test_document_validates(client: InProcessClient) -> None:
    response = client.get("/api")
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    document = response.json()
    assert document["openapi"].startswith("3.0")
    validate(document)


def test_security_and_parameters_declared(client: InProcessClient) -> None:
    document = client.get("/api").json()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    declared = {
        ref["$ref"].rsplit("/", 1)[1]
        for ref in document["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    }
    assert declared == {"collectionId", "f", "limit", "bbox", "datetime", "offset", "cursor"}
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


def test_every_route_is_described(client: InProcessClient) -> None:
    document = client.get("/api").json()
    for path in (
        "/manage/users",
        "/manage/collections/{collection_id}/import",
        "/manage/collections/{collection_id}/grants/{subject}",
    ):
        assert path in document["paths"]
