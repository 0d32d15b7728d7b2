"""The outbox keeps a message it gave up on, marked failed, so that the sharer and the
operator see it and may send it again."""

from opengeomesh.storage.migrations import apply_sql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0011_outbox_failures")
