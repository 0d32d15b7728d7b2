"""schemathesis against our ``/api`` document (OGC API, management API, OCM endpoints): for
every operation a few hundred generated requests, valid and invalid, sent in process to the
real app on a seeded database, as the operator, as an owner of collections and anonymously.
No answer may be a 5xx, and every answer must be as the document describes it (status, media
type, headers, body schema)."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import hypothesis.strategies as st
import orjson
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from opengeomesh import samples
from opengeomesh.app import create_app
from opengeomesh.services import Services
from tests.conftest import World, fresh_services, populate
from tests.security.test_ocm_spec_fuzz import explore

# What an answer is checked for: the document's promises, no more (a refused request must
# merely be refused as described).
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
]
# Generated requests per operation, per run below: positive (valid per the document) and
# negative (each violating it somewhere). With the three callers, 260 an operation (about
# 17,000 requests, some 3 minutes on two cores).
RUNS = [
    pytest.param("root", GenerationMode.POSITIVE, 130, id="operator-valid"),
    pytest.param("root", GenerationMode.NEGATIVE, 70, id="operator-invalid"),
    pytest.param("alice", GenerationMode.POSITIVE, 40, id="owner-valid"),
    pytest.param(None, GenerationMode.POSITIVE, 20, id="anonymous-valid"),
]
FEATURE_IDS = ["1", "2", "3", "17"]
# Real values that generated path parameters are swapped for, half of the time, so that
# operations reach real rows and not only 404s.
REAL: dict[str, list[str]] = {
    "collectionId": ["hydrants", "sectors"],
    "collection_id": ["hydrants", "sectors"],
    "featureId": FEATURE_IDS,
    "name": ["alice", "bob", "control-room"],
    "subject": ["group:control-room", "user:bob"],
    "domain": ["b.example"],
}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Services, World]]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    with fresh_services(data, rate_limit_per_minute_token=0, rate_limit_per_minute_peer=0) as s:
        world = populate(s, hydrant_count=40)
        # bob's spare tokens are what generated token deletes may take, never a caller's
        spare = [str(s.accounts.create_token("bob").record.id) for _ in range(3)]
        world.tokens["spare"] = ",".join(spare)
        alice = s.accounts.caller_for_user("alice")
        for name in ("scratch-1", "scratch-2"):  # what generated deletes may take
            s.catalog.create(alice, name, title=name)
            s.catalog.import_features(alice, name, _bytes(samples.hydrants(3)))
        yield s, world


def _bytes(document: Any) -> Any:
    import io

    return io.BytesIO(orjson.dumps(document))


def _schema(services: Services, spare_tokens: list[str]) -> Any:
    schema = schemathesis.openapi.from_asgi("/api", create_app(services.settings, services))

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
        if not path_parameters:
            return st.just(path_parameters)
        operation = context.operation
        real = {**REAL, "token_id": spare_tokens}
        if operation.method.upper() == "DELETE" and operation.path.endswith("{collection_id}"):
            real["collection_id"] = ["scratch-1", "scratch-2"]  # keep the seeded layers
        if str(path_parameters.get("token_id")) in ("1", "2", "3", "4"):  # the callers'
            path_parameters = {**path_parameters, "token_id": spare_tokens[0]}
        return st.fixed_dictionaries(
            {
                key: st.sampled_from([value, *real.get(key, [])])
                for key, value in path_parameters.items()
            }
        )

    return schema


@pytest.mark.parametrize(("user", "mode", "examples"), RUNS)
def test_every_answer_is_as_documented(
    seeded: tuple[Services, World], user: str | None, mode: GenerationMode, examples: int
) -> None:
    services, world = seeded
    schema = _schema(services, world.tokens["spare"].split(","))
    headers = {"Authorization": f"Bearer {world.tokens[user]}"} if user else {}
    failures: dict[str, list[str]] = collections.defaultdict(list)
    answered: collections.Counter[int] = collections.Counter()

    def send(case: Any) -> None:
        try:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as exc:  # collect all, then report
            failures[case.operation.label].append(f"{exc}\n{case.as_curl_command()}")
            return
        answered[response.status_code] += 1

    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
            continue  # nothing to get wrong
        operations += 1
        explore(operation, mode, examples, send)
    assert not failures, "\n\n".join(f"{k}:\n" + "\n".join(v[:3]) for k, v in failures.items())
    assert operations > 40
    # the seeded rows were reached: successes, not only refusals
    assert sum(n for status, n in answered.items() if status < 300) > operations


def _has_inputs(operation: Any) -> bool:
    return bool(list(operation.iter_parameters())) or bool(operation.body)
