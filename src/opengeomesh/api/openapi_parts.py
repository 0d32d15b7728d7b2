"""Pieces the parts of the API document share: references and problem responses."""

from __future__ import annotations

from typing import Any

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# What a mounted share (ocm-N) can answer besides: the sender refused access, failed or was
# slow, or too many calls to other servers are under way.
MOUNTED = ["Forbidden", "PeerFailed", "Busy", "PeerTimeout"]


def ref(kind: str, name: str) -> dict[str, str]:
    """A reference to a component (``schemas``, ``responses``, ``parameters``)."""
    return {"$ref": f"#/components/{kind}/{name}"}


def problem(description: str) -> dict[str, Any]:
    """A response with a problem details body (RFC 9457)."""
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
    }
