"""SQLite-backed Durable Objects: the SQL engine, its KV store, bookmarks and host operations."""
