"""The prediction log: :class:`~porto_inference.log.store.PredictionLog` over one asyncpg pool,
and the schema migrations. Every SQL statement of the service lives in this package."""
