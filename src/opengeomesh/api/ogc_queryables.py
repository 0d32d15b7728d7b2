"""``GET /collections/{collectionId}/queryables`` (OGC API – Features Part 3, /req/queryables):
the properties a filter may name, as JSON Schema (``application/schema+json``) or HTML.

A mounted share's queryables are the sender's, asked with the share's token, as its features
are; the filter itself is checked against them by the sender.
"""

from __future__ import annotations

import orjson
from fastapi import Request
from starlette.responses import Response

from opengeomesh.api.auth import CurrentCaller, services_of
from opengeomesh.api.negotiation import Format, chosen_format
from opengeomesh.api.ogc import GEOJSON, HTML, base_url, check_parameters, link
from opengeomesh.features.queryables import SCHEMA_JSON, queryables_schema
from opengeomesh.web.pages import render


def queryables(collection_id: str, request: Request, caller: CurrentCaller) -> Response:
    """The queryables of a local or mounted collection."""
    check_parameters(request, {"f"})
    fmt = chosen_format(request)
    services = services_of(request)
    base = base_url(request)
    collection_url = f"{base}/collections/{collection_id}"
    url = f"{collection_url}/queryables"
    layer = services.mounts.find(caller, collection_id)
    if layer is not None:
        body = {"$id": url, **services.mounts.queryables(layer)}
        title = layer.title
    elif (exposed := services.upstream_features.find(collection_id)) is not None:
        found, properties = services.upstream_features.queryables(caller, exposed)
        body = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": url,
            "type": "object",
            "title": found.title,
            "properties": properties,
            "additionalProperties": True,
        }
        title = found.title
    else:
        found, types = services.catalog.queryables(caller, collection_id)
        body = queryables_schema(url, found.title, types, found.temporal_property)
        title = found.title
    if fmt is Format.HTML:
        links = [
            link(f"{url}?f=json", "alternate", SCHEMA_JSON, "These queryables as JSON Schema"),
            link(f"{collection_url}?f=html", "collection", HTML, title),
            link(f"{collection_url}/items?f=html", "items", HTML, "Features as HTML"),
            link(f"{collection_url}/items?f=json", "items", GEOJSON, "Features as GeoJSON"),
        ]
        return render(request, "queryables.html", page=body, links=links)
    return Response(orjson.dumps(body), media_type=SCHEMA_JSON)
