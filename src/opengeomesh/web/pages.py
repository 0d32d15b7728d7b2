"""Rendering HTML pages of the OGC API with jinja2 (the ``html`` conformance class)."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("opengeomesh.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    request: Request, template: str, *, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """A page from ``templates/``; every page gets the request's base path for asset links."""
    services = request.app.state.services
    page = (
        _environment()
        .get_template(template)
        .render(request=request, site_title=services.settings.title, **context)
    )
    return HTMLResponse(page, headers=headers)
