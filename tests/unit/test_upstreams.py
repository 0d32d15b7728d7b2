"""Upstream registrations: checks of what the operator gives, conformance, credentials."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from opengeomesh.errors import InvalidInput
from opengeomesh.features.upstreams import (
    PART3_FILTER,
    PART4_WRITE,
    Upstream,
    _check,
    credentials,
)
from opengeomesh.ocm.secretbox import SecretBox


def _upstream(box: SecretBox, auth: str, secret: str, **kw: str) -> Upstream:
    return Upstream(
        key=1,
        name="pg",
        base_url="https://ogc.example",
        auth=auth,  # type: ignore[arg-type]
        username=kw.get("username", ""),
        header_name=kw.get("header", ""),
        secret=box.seal(secret, b"upstream:pg") if secret else None,
        allow_private=False,
        conforms_to=("http://www.opengis.net/spec/ogcapi-features-3/1.1/conf/filter",),
        created=datetime.now(UTC),
    )


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("PG", "https://x", "none", "", "", ""), "name"),
        (("pg", "ftp://x", "none", "", "", ""), "url"),
        (("pg", "https://u:p@x", "none", "", "", ""), "url"),
        (("pg", "https://x", "magic", "", "", ""), "auth"),
        (("pg", "https://x", "bearer", "", "", ""), "secret"),
        (("pg", "https://x", "basic", "", "pw", ""), "username"),
        (("pg", "https://x", "header", "", "v", "Host"), "header"),
        (("pg", "https://x", "none", "", "pw", ""), "auth"),
    ],
)
def test_bad_registrations_are_refused(args: tuple[str, ...], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        _check(*args)
    assert refused.value.field == field


def test_credentials_are_opened_only_for_their_upstream(tmp_path: Path) -> None:
    box = SecretBox(tmp_path)
    basic = _upstream(box, "basic", "pw", username="ogm")
    assert credentials(basic, box) == {"Authorization": "Basic b2dtOnB3"}
    assert credentials(_upstream(box, "bearer", "t0k"), box) == {"Authorization": "Bearer t0k"}
    header = _upstream(box, "header", "v", header="X-Api-Key")
    assert credentials(header, box) == {"X-Api-Key": "v"}
    assert credentials(_upstream(box, "none", ""), box) == {}
    shown = header.described(["hydrants"])
    assert shown["secret"] == "********" and "v" not in shown.values()


def test_conformance_is_matched_in_any_version(tmp_path: Path) -> None:
    upstream = _upstream(SecretBox(tmp_path), "none", "")
    assert upstream.declares(PART3_FILTER) and not upstream.declares(PART4_WRITE)
