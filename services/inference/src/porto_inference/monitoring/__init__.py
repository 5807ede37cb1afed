"""Monitoring: Prometheus metrics, drift, live quality and the monitoring queries."""
