"""The change feed: each write keeps its feature; one index per collection and change number."""

from opengeomesh.storage.migrations import apply_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0005_change_feed")
