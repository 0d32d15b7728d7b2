"""Choosing JSON or HTML: the ``f`` parameter first, then ``Accept`` (OGC 17-069r4 §7.8)."""

from __future__ import annotations

import enum

from fastapi import Request

from opengeomesh.errors import InvalidInput


class Format(enum.StrEnum):
    JSON = "json"
    HTML = "html"


def chosen_format(request: Request) -> Format:
    """The representation the client asked for; JSON unless HTML is preferred."""
    given = request.query_params.get("f")
    if given is not None:
        try:
            return Format(given.lower())
        except ValueError:
            raise InvalidInput("f", f"{given!r} is not offered: use 'json' or 'html'") from None
    return Format.HTML if _prefers_html(request.headers.get("accept", "")) else Format.JSON


def _prefers_html(accept: str) -> bool:
    html = json = 0.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        weight = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    weight = float(param[2:])
                except ValueError:
                    weight = 0.0
        media = media.lower()
        if media in ("text/html", "application/xhtml+xml"):
            html = max(html, weight)
        elif media.endswith("json") or media == "*/*":
            json = max(json, weight - (0.001 if media == "*/*" else 0))
    return html > 0 and html >= json
