"""OGC API – Features domain: collections, feature queries, imports and exports."""
