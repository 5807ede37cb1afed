"""Property-based fuzzing of every operation in the OpenAPI document with schemathesis: whatever
the generated request, the API answers it without a server error (5xx)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from harness.postgres import PostgresServer
from hypothesis import HealthCheck, given, settings
from inference.pg import reset
from porto_inference.api.app import create_app
from porto_inference.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_schema(home: Path, postgres_server: PostgresServer) -> Iterator[Any]:
    """The API's own OpenAPI document, served in-process with the prediction log on (so
    /feedback has its database: without one it answers 503 by design)."""
    reset(postgres_server.dsn)
    app = create_app(
        Settings(
            home=home,
            database_url=postgres_server.dsn,
            log_requests=False,
            poll_interval_s=3600,
            batch_max_rows=50,
        )
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    reset(postgres_server.dsn)


MAX_EXAMPLES = 25


def test_no_server_errors(api_schema: Any) -> None:
    """Every operation, ``MAX_EXAMPLES`` generated requests each (schemathesis strategies driven
    by hypothesis; schemathesis's pytest plugin does not support this pytest)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    # the Open Inference Protocol's routes are fuzzed too
    v2 = {(o.method.upper(), o.path) for o in operations if o.path.startswith("/v2")}
    assert ("POST", "/v2/models/{model_name}/infer") in v2
    assert ("POST", "/v2/models/{model_name}/versions/{model_version}/infer") in v2
    assert len(v2) == 9
    seen: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def no_5xx(case: Any) -> None:
            response = case.call()
            seen.append(f"{case.method} {case.path} {response.status_code}")
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}: "
                f"{response.text[:500]}"
            )

        no_5xx()
    # Every operation was exercised, and the prediction routes also with valid requests.
    assert len({s.rsplit(" ", 1)[0] for s in seen}) == len(operations)
