"""The ``filter``, ``filter-lang`` and ``filter-crs`` parameters (OGC API – Features Part 3,
OGC 19-079r2 §7.3–7.4) with CQL2 (OGC 21-065r2).

The ``cql2`` package parses cql2-text and cql2-json into its normalised JSON form; this module
turns that into ``conditions`` and accepts only what this server implements, so every other
operator, function or operand is a 400 that says why. Its ``validate()`` is not used: it builds
its JSON Schema validator on every call (~20 ms) and its cost grows exponentially with nesting.
pygeofilter is never used (its evaluators run ``eval`` and inline SQL literals).

Input is bounded before ``cql2`` sees it: a long or deeply nested filter is refused, since the
parser recurses (5,000 nested parentheses crash the process).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cql2
import orjson

from opengeomesh.errors import InvalidInput
from opengeomesh.features import crs
from opengeomesh.features.conditions import Condition
from opengeomesh.features.cql2_json import Reader

FILTER_PARAMETERS = frozenset({"filter", "filter-lang", "filter-crs"})
FILTER_LANGUAGES = ("cql2-text", "cql2-json")
CRS84 = crs.CRS84.uri
# What /conformance declares of Part 3 and CQL2: exactly what this module and the stores
# implement (no property=value parameters, no CASEI/ACCENTI, arithmetic, arrays or functions).
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
]
MAX_LENGTH = 20_000
MAX_NESTING = 40  # parentheses plus NOTs in cql2-text, objects and arrays in cql2-json
_STRING_OR_NAME = re.compile(r"'(?:[^']|'')*'?|\"[^\"]*\"?")
_NOT = re.compile(r"(?<![A-Za-z0-9_:.])NOT(?![A-Za-z0-9_:.])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Filter:
    """A checked filter: its conditions and the property names it reads (not ``geometry``)."""

    condition: Condition
    properties: frozenset[str]


def filter_crs(text: str) -> str:
    """The CRS of the coordinates in a filter's geometries (``filter-crs``, Part 3
    /req/filter/filter-crs-wgs84): CRS84 only, until Part 2 transforms them too."""
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if value not in (CRS84, "OGC:CRS84"):
        raise InvalidInput("filter-crs", f"{text!r} is not supported: use {CRS84}")
    return CRS84


def parse_filter_parameters(params: Mapping[str, str]) -> Filter | None:
    """The filter of an items request, or None; ``filter-lang`` and ``filter-crs`` are checked
    even without a filter."""
    language = params.get("filter-lang", "cql2-text")
    if language not in FILTER_LANGUAGES:
        raise InvalidInput(
            "filter-lang", f"{language!r} is not offered: use cql2-text or cql2-json"
        )
    if "filter-crs" in params:
        filter_crs(params["filter-crs"])
    if "filter" not in params:
        return None
    return parse_filter(params["filter"], language)


def parse_filter(text: str, language: str = "cql2-text") -> Filter:
    """Parse and check a filter; every problem is an ``InvalidInput`` for ``filter``."""
    if not text.strip():
        raise InvalidInput("filter", "is empty")
    if len(text) > MAX_LENGTH:
        raise InvalidInput("filter", f"is longer than {MAX_LENGTH} characters")
    if language == "cql2-json":
        _check_json_nesting(text)
        parse: Callable[[str], Any] = cql2.parse_json
    else:
        _check_text_nesting(text)
        parse = cql2.parse_text
    try:
        normalised = parse(text).to_json()
    except Exception as exc:  # any failure of the parser is a fault of the input
        raise InvalidInput("filter", f"not valid {language}: {_short(str(exc))}") from None
    reader = Reader()
    condition = reader.condition(normalised)
    return Filter(condition=condition, properties=frozenset(reader.properties))


def check_properties(found: Filter, known: Callable[[str], bool]) -> None:
    """Refuse a filter naming a property the collection does not have (its queryables,
    ``additionalProperties: false``: Part 3 /req/queryables/...)."""
    for name in sorted(found.properties):
        if not known(name):
            raise InvalidInput("filter", f"{name!r} is not a queryable of this collection")


def _check_text_nesting(text: str) -> None:
    """Refuse cql2-text nested deeper than ``MAX_NESTING`` (parentheses and NOTs counted
    outside string literals and quoted names) before the recursive parser sees it."""
    bare = _STRING_OR_NAME.sub("''", text)
    depth = deepest = 0
    for char in bare:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    if deepest + len(_NOT.findall(bare)) > MAX_NESTING:
        raise InvalidInput("filter", f"is nested too deeply (at most {MAX_NESTING} levels)")


def _check_json_nesting(text: str) -> None:
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("filter", f"not valid JSON: {_short(str(exc))}") from None
    level: list[tuple[Any, int]] = [(document, 1)]
    while level:
        value, depth = level.pop()
        if depth > 2 * MAX_NESTING:
            raise InvalidInput("filter", f"is nested too deeply (at most {MAX_NESTING} levels)")
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict | list):
            level.extend((child, depth + 1) for child in children)


def _short(message: str) -> str:
    flat = " ".join(message.split())
    return flat if len(flat) <= 300 else flat[:297] + "..."
