"""Test harness: real servers (MinIO, PostgreSQL, Prometheus) started on loopback."""
