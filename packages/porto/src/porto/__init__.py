"""porto shared core."""
