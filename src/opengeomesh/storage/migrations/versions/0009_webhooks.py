"""Webhooks: endpoints that operators and users register for event types, and the deliveries
of events to them (the webhook part of the outbox, kept with their status)."""

from opengeomesh.storage.migrations import apply_sql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql("0009_webhooks")
