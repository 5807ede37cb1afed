"""`helm test` for porto: the API answers /ready, scores a record, and exports its metrics.

    python helm_test.py BASE_URL [--alias champion] [--timeout 600]

The record is built from the served model's own feature schema (GET /models/<alias>: each
feature's `typical` value, the median or mode seen in training), so the check holds for any
dataset and model, not only Porto Seguro's columns. The API key comes from the PORTO_API_KEY
environment variable (the chart sets it from the release's key Secret); with one, the test also
checks that a keyed call (POST /models/reload) is refused without it and answered with it.
Standard library only: it runs in the inference image. Exit code 0 = pass; each failure prints
one line saying what was wrong.
"""

# A command-line program: its output is the point (print is fine here).
# ruff: noqa: T201

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any


class CheckError(Exception):
    """A check failed; the message says which and why."""


def api_key() -> str | None:
    """The API key the test sends (PORTO_API_KEY), if any."""
    return os.environ.get("PORTO_API_KEY") or None


def request(
    base: str, path: str, body: Any = None, timeout: float = 10.0, *, authenticated: bool = True
) -> tuple[int, bytes]:
    """Return (status, body) of GET ``path`` (POST JSON when ``body`` is given), with the API key
    unless ``authenticated`` is false."""
    headers = {"Accept": "application/json"}
    key = api_key()
    if key and authenticated:
        headers["X-API-Key"] = key
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base.rstrip("/") + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(base: str, timeout: float) -> dict[str, Any]:
    """Poll /ready until 200 (a first training run may still be publishing the model)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, body = request(base, "/ready", timeout=5)
            if status == 200:
                ready: dict[str, Any] = json.loads(body)
                return ready
            last = f"{status} {body[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(3)
    raise CheckError(f"/ready did not answer 200 within {timeout:.0f}s (last: {last})")


def typical_record(manifest: dict[str, Any]) -> dict[str, Any]:
    """A record of typical values (median / mode seen in training) for every feature."""
    features = manifest.get("feature_schema", {}).get("features", [])
    if not features:
        raise CheckError("the model manifest lists no features")
    record: dict[str, Any] = {}
    for spec in features:
        value = spec.get("typical")
        if value is None:
            categories = spec.get("categories") or []
            if categories:
                value = categories[0]
            elif spec.get("min") is not None and spec.get("max") is not None:
                value = (spec["min"] + spec["max"]) / 2
            else:
                value = 0
        record[spec["name"]] = value
    return record


def check(base: str, alias: str, timeout: float) -> list[str]:
    """Run every check; return what passed (CheckError on the first failure)."""
    done = []
    ready = wait_ready(base, timeout)
    done.append(f"/ready: {json.dumps(ready)[:200]}")

    status, body = request(base, f"/models/{alias}")
    if status != 200:
        raise CheckError(f"GET /models/{alias} answered {status}: {body[:300]!r}")
    manifest = json.loads(body)
    record = typical_record(manifest)
    done.append(f"/models/{alias}: version {manifest.get('version')}, {len(record)} features")

    status, body = request(base, "/predict", {"features": record})
    if status != 200:
        raise CheckError(f"POST /predict answered {status}: {body[:300]!r}")
    answer = json.loads(body)
    probability = answer.get("probability")
    if not isinstance(probability, float | int) or not 0.0 <= probability <= 1.0:
        raise CheckError(f"POST /predict: probability {probability!r} is not in [0, 1]")
    if answer.get("class") not in (0, 1):
        raise CheckError(f"POST /predict: class {answer.get('class')!r} is not 0 or 1")
    done.append(
        f"/predict: probability {probability:.4f}, class {answer['class']}, "
        f"version {answer.get('model_version')}"
    )

    if api_key():
        # The key is enforced: promote and reload must not be open to whoever reaches the API.
        status, body = request(base, "/models/reload", {}, authenticated=False)
        if status not in (401, 403):
            raise CheckError(
                f"POST /models/reload without the API key answered {status}, not 401: "
                f"the API does not enforce its key ({body[:200]!r})"
            )
        status, body = request(base, "/models/reload", {})
        if status != 200:
            raise CheckError(
                f"POST /models/reload with the API key answered {status}: {body[:300]!r}"
            )
        done.append(f"/models/reload: {status} with the API key, refused without it")

    status, body = request(base, "/metrics")
    if status != 200 or b"inference_requests_total" not in body:
        raise CheckError(f"GET /metrics answered {status} without inference_requests_total")
    done.append("/metrics: inference_requests_total exported")
    return done


def parser() -> argparse.ArgumentParser:
    """The command line (the chart's test pod passes the URL, alias and timeout)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("base_url", help="the API, e.g. http://porto-inference:8000")
    parser.add_argument("--alias", default="champion", help="alias whose schema builds the record")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for /ready")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = parser().parse_args(argv)
    try:
        for line in check(args.base_url, args.alias, args.timeout):
            print(f"ok  {line}", flush=True)
    except CheckError as exc:
        print(f"FAIL {exc}", file=sys.stderr, flush=True)
        return 1
    print("porto helm test passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
