"""Signatures of webhook deliveries (Standard Webhooks): the published example, a verifier
written from the specification, and refusals of tampered or stale deliveries."""

from __future__ import annotations

import base64
import time

import pytest

from opengeomesh.webhooks.signing import (
    SECRET_PREFIX,
    BadSignature,
    new_secret,
    signature,
    signed_headers,
    verify,
)
from tests.webhook_receiver import spec_verify

# The example of the Standard Webhooks reference libraries' tests.
EXAMPLE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EXAMPLE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
EXAMPLE_TIME = 1614265330
EXAMPLE_BODY = b'{"test": 2432232314}'
EXAMPLE_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_example_signs_alike() -> None:
    assert signature(EXAMPLE_SECRET, EXAMPLE_ID, EXAMPLE_TIME, EXAMPLE_BODY) == EXAMPLE_SIGNATURE


def test_new_secrets_are_whsec_and_32_random_bytes() -> None:
    one, two = new_secret(), new_secret()
    assert one.startswith(SECRET_PREFIX) and one != two
    assert len(base64.b64decode(one[len(SECRET_PREFIX) :])) == 32


def test_an_independent_verifier_accepts_what_we_sign() -> None:
    secret, body, now = new_secret(), b'{"type":"share.received","data":{}}', time.time()
    headers = signed_headers(secret, "msg_1_2", body, now)
    assert headers["webhook-id"] == "msg_1_2"
    assert headers["webhook-timestamp"] == str(int(now))
    assert spec_verify(secret, headers, body)
    verify(secret, headers, body)
    # several signatures (a receiver during secret rotation): any one may match
    rotated = {**headers, "webhook-signature": f"v1,AAAA {headers['webhook-signature']}"}
    assert spec_verify(secret, rotated, body)
    verify(secret, rotated, body)


@pytest.mark.parametrize(
    "change",
    ["body", "id", "timestamp", "secret", "stale", "version"],
)
def test_tampered_or_stale_deliveries_are_refused(change: str) -> None:
    secret, body, now = new_secret(), b'{"n":1}', time.time()
    headers = signed_headers(secret, "msg_1", body, now)
    if change == "body":
        body = b'{"n":2}'
    elif change == "id":
        headers["webhook-id"] = "msg_2"
    elif change == "timestamp":
        headers["webhook-timestamp"] = str(int(now) + 1)
    elif change == "secret":
        secret = new_secret()
    elif change == "stale":
        headers = signed_headers(secret, "msg_1", body, now - 301)
    else:
        headers["webhook-signature"] = "v2," + headers["webhook-signature"][3:]
    assert not spec_verify(secret, headers, body)
    with pytest.raises(BadSignature):
        verify(secret, headers, body)


def test_missing_headers_are_refused() -> None:
    with pytest.raises(BadSignature, match="missing"):
        verify(new_secret(), {"webhook-id": "msg_1"}, b"{}")
