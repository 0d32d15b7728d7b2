"""Sharing: shares sent and received, sharing rules and the outbox."""

from opengeomesh.storage.migrations import apply_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0003_shares")
