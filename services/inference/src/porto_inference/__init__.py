"""porto inference service: FastAPI under gunicorn, prediction log in PostgreSQL, Prometheus
metrics. Start it with ``porto-inference serve``; build the app with
:func:`porto_inference.api.app.create_app`."""

__version__ = "0.1.0"
