"""The SQLite store: the only place that knows SQL, sqlite3, PRAGMAs and SQLite's errors."""
