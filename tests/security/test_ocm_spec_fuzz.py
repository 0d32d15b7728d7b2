"""schemathesis with the official OCM OpenAPI document (``spec.yaml``) as the source of
requests to our OCM endpoints: each generated request is sent unsigned and, changed so that
its sender is a real peer server on loopback, signed with that server's key. No answer may be
a 5xx; every answer must be one the official document describes."""

from __future__ import annotations

import collections
import json
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from opengeomesh.app import create_app
from opengeomesh.ocm.signatures import RequestSigner
from opengeomesh.services import Services
from tests.conftest import InProcessClient
from tests.e2e.orgs import SPEC, Org
from tests.security.conftest import BASE

# No 5xx, but for 501, which the document prescribes for a share of a resource or share type
# the receiver does not take (draft-ietf-ocm "Share Creation Notification"): answer_is_no_5xx.
CHECKS = [
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
]
# POST /request-share is optional (draft-ietf-ocm "Request for a Share": MAY) and not
# offered here; every other operation of the document is exercised.
NOT_OFFERED = {"/request-share"}


def official_document() -> dict[str, Any]:
    """spec.yaml with its paths where our server has them: the OCM API under ``/ocm``
    (our discovery's ``endPoint``), discovery at the root."""
    assert SPEC.is_file(), f"the OCM OpenAPI document is expected at {SPEC}"
    raw: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    paths: dict[str, Any] = {}
    for path, item in raw["paths"].items():
        if path in NOT_OFFERED:
            continue
        item = {k: v for k, v in item.items() if k != "servers"}
        paths[path if path.startswith("/.well-known/") else f"/ocm{path}"] = item
    return {**raw, "servers": [{"url": BASE}], "paths": paths}


def as_peer(case: Any, peer: Org) -> Any:
    """The generated body with its sender (or the invite's accepting server) the peer's."""
    body = case.body
    if isinstance(body, dict):
        body = dict(body)
        path = case.operation.path
        if path == "/ocm/shares":
            for field in ("sender", "owner"):
                user = str(body.get(field, "someone")).partition("@")[0] or "someone"
                body[field] = f"{user}@{peer.host}"
        if path == "/ocm/invite-accepted":
            body["recipientProvider"] = peer.host
    return body


def explore(operation: Any, mode: GenerationMode, examples: int, send: Any) -> None:
    """Send ``examples`` generated requests of ``operation`` (the same ones every run)."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        send(case)

    run()


def answer_is_no_5xx(response: httpx.Response) -> None:
    """A server error is a failure; 501 is the document's refusal of an unsupported share
    (whether this operation declares it is checked by ``status_code_conformance``)."""
    status = response.status_code
    assert status < 500 or status == 501, f"server error {status}: {response.text[:300]}"


@pytest.mark.parametrize(
    ("mode", "examples"),
    [
        pytest.param(GenerationMode.POSITIVE, 250, id="valid"),
        pytest.param(GenerationMode.NEGATIVE, 100, id="invalid"),
    ],
)
def test_ocm_answers_are_as_the_official_document_says(
    target: Services, peer: Org, mode: GenerationMode, examples: int
) -> None:
    schema = schemathesis.openapi.from_dict(official_document())
    client = InProcessClient(create_app(target.settings, target), BASE)
    signer = RequestSigner(peer.keyring())
    failures: dict[str, list[str]] = collections.defaultdict(list)
    answered: collections.Counter[tuple[str, bool, int]] = collections.Counter()

    def exchange(case: Any) -> None:
        for signed in (False, True):
            sent = case.as_transport_kwargs(base_url=BASE)
            content = sent.get("data")
            if "json" in sent:
                content = json.dumps(as_peer(case, peer) if signed else case.body).encode()
            request = httpx.Request(
                sent["method"], sent["url"], headers=sent.get("headers") or {}, content=content
            )
            if signed:
                signer.sign(request)
            response = client.request(
                request.method, str(request.url), headers=request.headers, content=content
            )
            label = case.operation.label
            try:
                answer_is_no_5xx(response)
                case.validate_response(response, checks=CHECKS)
            except (AssertionError, BaseExceptionGroup) as exc:
                said = f"{'signed' if signed else 'unsigned'}: {exc}\n{request.url} {content!r}"
                failures[label].append(said)
                continue
            answered[(label, signed, response.status_code)] += 1

    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            if mode is GenerationMode.NEGATIVE and not operation.body:
                continue
            explore(operation, mode, examples, exchange)
    finally:
        client.close()
    assert not failures, "\n\n".join(f"{k}:\n" + "\n".join(v[:3]) for k, v in failures.items())
    if mode is GenerationMode.POSITIVE:
        # signed requests got past the signature check to the parts that read the body (an
        # unsigned notification is always 401)
        signed_notes = {s for (label, signed, s) in answered if signed and "notif" in label}
        assert signed_notes and 401 not in signed_notes, str(sorted(answered.items()))
