"""A collection's queryables (OGC API – Features Part 3 §6, /req/queryables): the properties a
filter may name, as a JSON Schema (2020-12) inferred from the stored features.

``geometry`` is the features' geometry (``format: geometry-any``), the collection's temporal
property a ``date-time`` string; every other property gets the JSON type its values have (a
list of types when they differ). ``additionalProperties`` is false: a filter naming anything
else is refused with a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opengeomesh.features.conditions import GEOMETRY
from opengeomesh.features.cql2_json import filterable_name

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
SCHEMA_JSON = "application/schema+json"
_JSON_TYPES = {
    "integer": "integer",
    "real": "number",
    "text": "string",
    "true": "boolean",
    "false": "boolean",
    "array": "array",
    "object": "object",
}


def queryables_schema(
    url: str,
    title: str,
    types: Mapping[str, frozenset[str]],
    temporal_property: str | None,
) -> dict[str, Any]:
    """The queryables document of a collection; ``url`` is its own address (``$id``), ``types``
    the stored JSON types of each property (as the feature store reports them)."""
    properties: dict[str, Any] = {
        GEOMETRY: {"title": "Geometry", "format": "geometry-any", "x-ogc-role": "primary-geometry"}
    }
    names = set(types) | ({temporal_property} if temporal_property else set())
    for name in sorted(names):
        if name == GEOMETRY or not filterable_name(name):
            continue  # not addressable in a filter
        if name == temporal_property:
            properties[name] = {"title": name, "type": "string", "format": "date-time"}
        else:
            properties[name] = {"title": name, **_type_of(types.get(name, frozenset()))}
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": url,
        "type": "object",
        "title": title,
        "properties": properties,
        "additionalProperties": False,
    }


def _type_of(kinds: frozenset[str]) -> dict[str, Any]:
    found = {_JSON_TYPES[k] for k in kinds if k in _JSON_TYPES}
    if "number" in found:
        found.discard("integer")  # integers are numbers too
    if not found:
        return {}  # only nulls seen: any type
    ordered = sorted(found)
    return {"type": ordered[0] if len(ordered) == 1 else ordered}
