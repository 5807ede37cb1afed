"""Wait until the S3 endpoint accepts TCP connections: ``python wait_for_store.py URL SECONDS``.

The training Job's init container. On install MinIO starts alongside the Job; without this the
first attempt fails on a refused connection, counts as a failed pod, and fires the
PortoTrainingJobFailed alert for a run that was only early. Exits 1 after SECONDS.
"""

# A command-line program: its output is the point (print is fine here).
# ruff: noqa: T201

import socket
import sys
import time
import urllib.parse


def main(url: str, timeout_s: float) -> int:
    """Return 0 once ``url``'s host accepts a TCP connection, 1 after ``timeout_s`` seconds."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=3):
                print(f"{host}:{port} is up", flush=True)
                return 0
        except OSError as exc:
            if time.monotonic() > deadline:
                print(f"{host}:{port} still unreachable after {timeout_s:.0f}s: {exc}", flush=True)
                return 1
            print(f"waiting for {host}:{port} ({exc})", flush=True)
            time.sleep(2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
