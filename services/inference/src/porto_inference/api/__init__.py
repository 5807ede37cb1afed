"""The HTTP room: the FastAPI app, routes, dependencies, middleware and the error mapping.

Imports scoring/, log/ and monitoring/; nothing imports it back.
"""
