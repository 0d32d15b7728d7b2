"""Upstream OGC API – Features servers and the collections exposed from them."""

from opengeomesh.storage.migrations import apply_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0007_upstreams")
