"""Pieces of SQL text with their bound parameters, put together in order; and CQL2's LIKE
patterns as SQLite GLOB patterns (GLOB is case-sensitive, as CQL2's LIKE is)."""

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


NULL, TRUE, FALSE = Sql("NULL"), Sql("1"), Sql("0")


def like_to_glob(pattern: str) -> str:
    """A CQL2 LIKE pattern (``%``, ``_``, ``\\`` escapes; case-sensitive) as a SQLite GLOB
    pattern (``*``, ``?``; GLOB's own special characters bracketed)."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(_glob_literal(next(chars, "")))
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            out.append(_glob_literal(char))
    return "".join(out)


def _glob_literal(char: str) -> str:
    return f"[{char}]" if char in "*?[" else char
