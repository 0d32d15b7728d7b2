"""Upstream OGC API – Features servers and the collections exposed from them."""

from opengeomesh.storage.migrations import apply_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0006_upstreams")
