"""Domain errors in plain words for people at the workspace's pages."""

from __future__ import annotations

from opengeomesh.errors import Conflict, InvalidInput, NotFound, OpenGeoMeshError
from opengeomesh.ocm.client import PeerTimeout, PeerUnavailable
from opengeomesh.ocm.trust import Untrusted

# What a refusal's prefix (set by ocm/sharing.py and ocm/federation.py) means for the sender.
_EXPLAINED = {
    "trust policy: ": (
        "Your server does not deal with that server yet. Someone there has to accept an invite"
        " from you first, or your operator has to trust the server."
    ),
    "sharing policy: ": (
        "Your operator's sharing rules do not let this layer go to that server"
        " (or not with write access)."
    ),
    "permissions: ": "You can only read this layer, so you can share it only read-only.",
}


def plain(exc: OpenGeoMeshError) -> str:
    """One or two sentences a person understands, keeping the server's own reason."""
    detail = exc.reason if isinstance(exc, InvalidInput) else exc.detail
    if isinstance(exc, PeerTimeout):
        return f"The other server did not answer in time. ({detail})"
    if isinstance(exc, PeerUnavailable):
        return (
            f"The other server cannot be reached or gave an answer that cannot be used. ({detail})"
        )
    for prefix, meaning in _EXPLAINED.items():
        if detail.startswith(prefix):
            return f"{meaning} ({detail.removeprefix(prefix)})"
    if isinstance(exc, Untrusted):
        return f"That server is not trusted here: {detail}."
    if "could not be delivered" in detail:
        return f"The other server refused the share: {_refusal(detail)}"
    if isinstance(exc, NotFound):
        return f"Not found: {detail}. It may have been deleted or revoked, or it is not yours."
    if isinstance(exc, Conflict):
        return _code_free(detail)
    if isinstance(exc, InvalidInput):
        return _sentence(_code_free(detail))
    return _sentence(_code_free(detail))


def _refusal(detail: str) -> str:
    """The human part of a peer's refusal (``… to HOST: refused with 400: NOT_FOUND;
    shareWith: no user 'x' here; shareWith: NOT_FOUND`` → ``no user 'x' here.``)."""
    said = detail.split(": ", 1)[-1]
    human = []
    for part in said.split("; "):
        words = part.rsplit(": ", 1)[-1].strip()
        if part.startswith("refused with") and ": " in part:
            words = part.split(": ", 1)[1]
        if words and not (words.isupper() or words.startswith("refused with")):
            human.append(words)
    return _sentence("; ".join(human) or said)


def _code_free(text: str) -> str:
    """``INVITE_ALREADY_ACCEPTED: this invite…`` → ``this invite…``."""
    head, sep, rest = text.partition(": ")
    if sep and head.isupper() and "_" in head:
        return rest
    return text


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "Something went wrong."
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?", ")")) else ".")
