"""Rate limits: the requests of each key per one-minute window, shared by all processes."""

from opengeomesh.storage.migrations import apply_sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0010_rate_limits")
