"""The record of every change to a feature."""

from opengeomesh.storage.migrations import apply_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0004_feature_changes")
