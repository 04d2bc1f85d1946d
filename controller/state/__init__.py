"""Durable controller state: schema migrations and repositories over SQLite (WAL)."""
