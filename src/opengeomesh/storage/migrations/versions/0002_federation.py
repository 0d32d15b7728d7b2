"""Federation: peers, invites, contacts and the signatures seen recently."""

from opengeomesh.storage.migrations import apply_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0002_federation")
