"""Webhooks: signed HTTP callbacks about shares, invites and layers, sent through the outbox."""
