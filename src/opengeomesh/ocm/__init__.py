"""OpenCloudMesh domain: addresses, discovery, signatures, trust, invites (no web framework)."""
