"""Accounts, collections and local grants. Feature tables are made per collection by the store."""

from opengeomesh.storage.migrations import apply_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0001_initial")
