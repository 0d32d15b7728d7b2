"""The upstream poller: when each exposed collection was first polled, and the lease that lets
one process of all poll at a time."""

from opengeomesh.storage.migrations import apply_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0008_upstream_polls")
