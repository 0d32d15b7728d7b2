-- The change feed (GET /collections/{id}/changes): every single-feature write keeps the
-- feature as written (GeoJSON: type, id, geometry, properties; NULL for a delete), and the feed
-- reads one collection's changes in change-number order. A write's change number (`version`)
-- is unique within its collection. Bulk imports are not recorded here, so not in the feed.
ALTER TABLE feature_changes ADD COLUMN feature text;
CREATE UNIQUE INDEX feature_changes_feed ON feature_changes(collection_key, version);
