"""Functions of the PostgreSQL feature store: times in CQL2 filters read as ``cql2`` reads
them, and properties without U+0000 for jsonb (PostgreSQL only: SQLite registers its time
functions on every connection)."""

from opengeomesh.storage.migrations import apply_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0006_cql2_functions")
