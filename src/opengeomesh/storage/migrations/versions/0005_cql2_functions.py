"""Functions that read times in CQL2 filters as ``cql2`` reads them (PostgreSQL only: SQLite
registers its own on every connection)."""

from opengeomesh.storage.migrations import apply_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0005_cql2_functions")
