"""porto inference service."""
