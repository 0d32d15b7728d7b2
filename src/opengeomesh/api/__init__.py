"""HTTP adapters: one route table, authentication, problem details, OpenAPI document."""
