"""The prediction log: one store that owns the asyncpg pool and all SQL, plus migrations."""
