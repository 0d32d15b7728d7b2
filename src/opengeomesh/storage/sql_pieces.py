"""Pieces of SQL text with their bound parameters, put together in order (both databases).

Pieces are written with ``?`` placeholders, SQLite's own; the PostgreSQL stores turn them into
psycopg's ``%s`` (:func:`opengeomesh.storage.postgres.filters.pyformat`).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Sql(NamedTuple):
    """A piece of SQL and the parameters of its ``?`` placeholders, in order."""

    text: str
    args: tuple[Any, ...] = ()


def sql(template: str, *parts: Sql | Any) -> Sql:
    """Fill the ``{}`` of ``template`` in order: a ``Sql`` piece as it is, any other value
    as a bound parameter."""
    texts: list[str] = []
    args: list[Any] = []
    for part in parts:
        if isinstance(part, Sql):
            texts.append(part.text)
            args.extend(part.args)
        else:
            texts.append("?")
            args.append(part)
    return Sql(template.format(*texts), tuple(args))


def joined(separator: str, parts: list[Sql]) -> Sql:
    """The pieces one after another, with ``separator`` between them."""
    return sql(separator.join("{}" for _ in parts), *parts)
