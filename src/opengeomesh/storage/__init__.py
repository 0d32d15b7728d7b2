"""Implementations of the stores the domain declares: ``sqlite/`` now, PostgreSQL later."""
