"""The base of the management API's request bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    """Request bodies: unknown fields and loose types (``"yes"`` for true) are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)
