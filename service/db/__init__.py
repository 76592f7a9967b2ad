"""Storage: the schema, engines with durable settings, migrations."""
