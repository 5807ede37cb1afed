"""The user-path tests on a real Kubernetes node (a package: its fixtures are package-scoped)."""
