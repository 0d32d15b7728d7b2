"""Rate limits per peer server and per token, counted in fixed one-minute windows."""
