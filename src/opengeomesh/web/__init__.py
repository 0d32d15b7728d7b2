"""HTML pages, templates and static assets."""
