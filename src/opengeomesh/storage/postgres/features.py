"""TEMPORARY SHIM, not for merge: the real module is written on another branch and replaces
this file whole. It lets ``open_postgres`` build its ``Stores`` meanwhile."""

from __future__ import annotations

from typing import Any

from opengeomesh.storage.postgres.database import PgDatabase


class PgFeatureStore:
    """Placeholder: every method raises NotImplementedError."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"PgFeatureStore.{name} is written on another branch")
