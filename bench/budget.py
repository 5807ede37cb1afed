"""What the batch targets of issue 18 leave per row, against what one run measured.

The three batch targets share the same microseconds on the same cores (API workers, PostgreSQL
and the load generator): 1,000-row JSON at 40 % of the parse-only orjson floor, CSV at 1.5× that
JSON rate, and the rate with every row logged at 75 % of the rate with the log off. Held
together they give each JSON row, CSV row and logged row a CPU budget; :func:`budgets` sets each
budget beside two sums from the same run: the floors porto cannot go below (the HTTP floor with
its parse, CatBoost's own 1,000-row rate, PostgreSQL's own binary COPY of logged rows) and
porto's own steps on top of them (timed in-process on one core, by :func:`time_steps`).

A floor is a rate a tool without porto's code reaches on this machine, so "floors alone over
budget" means no request path built on these parts can meet the targets together here.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The targets (issue 18 §1 and §3).
JSON_SHARE = 0.40
CSV_FACTOR = 1.5
LOG_SHARE = 0.75


@dataclass(frozen=True)
class Floors:
    """One run's floors. Rates in rows per second; costs in microseconds of CPU per row."""

    cores: int
    """CPUs the API, PostgreSQL and the load generator share."""
    json_floor_rows_per_s: float
    """The orjson floor through HTTP: wrk, gunicorn, reading the 1,000-row body, parsing it."""
    parse_us: float
    """orjson.loads of that body, in-process (the floor's own work beyond HTTP)."""
    model_us: float
    """CatBoost's 1,000-row batches in-process (the model floor)."""
    copy_us: float
    """PostgreSQL's binary COPY of logged rows into a table shaped like a day partition."""

    @property
    def http_parse_us(self) -> float:
        """CPU per row of the whole orjson floor (both cores over its rate)."""
        return self.cores * 1e6 / self.json_floor_rows_per_s

    @property
    def http_us(self) -> float:
        """The orjson floor without its parse: HTTP and reading the body."""
        return max(self.http_parse_us - self.parse_us, 0.0)


@dataclass(frozen=True)
class Steps:
    """porto's own work per row beyond the floors, in microseconds of CPU (in-process, one
    core, the benchmark's bodies and model)."""

    json_read_us: float
    """Checking and encoding the parsed JSON records (after orjson.loads)."""
    csv_read_us: float
    """Reading and encoding the CSV body (its cells included: no floor covers them)."""
    score_extra_us: float
    """porto's model call beyond CatBoost's floor (the shape it hands CatBoost, the Pool)."""
    answer_us: float
    """Prediction ids and the JSON answer."""
    json_entry_us: float
    """The log entry of a JSON batch (the rows' feature texts)."""
    csv_entry_us: float
    """The log entry of a CSV batch (cut from the body's lines)."""
    writer_us: float
    """The log writer's encoding and COPY (its thread's CPU, measured alone)."""


@dataclass(frozen=True)
class Budget:
    """One target's CPU per row: what it allows, the floors under it, porto's steps on top."""

    name: str
    allowed_us: float
    floors_us: float
    floors: str
    porto_us: float
    porto: str

    @property
    def needed_us(self) -> float:
        return self.floors_us + self.porto_us

    @property
    def floors_fit(self) -> bool:
        """Whether the floors alone leave any room: if not, no request path meets it here."""
        return self.floors_us <= self.allowed_us


def _parts(**parts: float) -> tuple[float, str]:
    return sum(parts.values()), ", ".join(f"{k} {v:.2f}" for k, v in parts.items())


def budgets(f: Floors, s: Steps) -> list[Budget]:
    """The CPU per row each batch target allows when all three hold, beside the floors and
    porto's steps of the same run."""
    json_rate = JSON_SHARE * f.json_floor_rows_per_s
    json_allowed = f.cores * 1e6 / json_rate
    csv_allowed = json_allowed / CSV_FACTOR
    # With the log on, the JSON row costs json_allowed; the rate with the log off may be at most
    # 1/LOG_SHARE of it, so the log may take at most (1 - LOG_SHARE) of that row's CPU.
    log_allowed = (1 - LOG_SHARE) * json_allowed
    log_floor, log_floors = _parts(**{"PostgreSQL COPY": f.copy_us})
    log_porto, log_steps = _parts(entry=s.json_entry_us, writer=s.writer_us)
    json_floor, json_floors = _parts(
        **{"HTTP+parse": f.http_parse_us, "CatBoost": f.model_us, "PostgreSQL COPY": f.copy_us}
    )
    json_porto, json_steps = _parts(
        read=s.json_read_us, score=s.score_extra_us, answer=s.answer_us, log=log_porto
    )
    csv_floor, csv_floors = _parts(
        **{"HTTP": f.http_us, "CatBoost": f.model_us, "PostgreSQL COPY": f.copy_us}
    )
    csv_porto, csv_steps = _parts(
        read=s.csv_read_us,
        score=s.score_extra_us,
        answer=s.answer_us,
        log=s.csv_entry_us + s.writer_us,
    )
    return [
        Budget(
            f"JSON at {JSON_SHARE:.0%} of the orjson floor",
            json_allowed,
            json_floor,
            json_floors,
            json_porto,
            json_steps,
        ),
        Budget(
            f"CSV at {CSV_FACTOR}x that JSON rate",
            csv_allowed,
            csv_floor,
            csv_floors,
            csv_porto,
            csv_steps,
        ),
        Budget(
            f"the log at {LOG_SHARE:.0%} of log-off, there",
            log_allowed,
            log_floor,
            log_floors,
            log_porto,
            log_steps,
        ),
    ]


def report_budgets(rows: list[Budget], cores: int) -> None:
    """Print :func:`budgets`' lines and what they mean for the targets together."""
    print()
    print(
        f"the batch targets together (CPU per row on {cores} shared cores, in us: allowed when "
        "all three hold; this run's floors; porto's own steps, in-process on one core)"
    )
    for b in rows:
        verdict = (
            "fits"
            if b.needed_us <= b.allowed_us
            else "floors fit, porto's steps do not"
            if b.floors_fit
            else "the floors alone do not fit"
        )
        print(
            f"  {b.name:<40} allowed {b.allowed_us:6.2f}   floors {b.floors_us:6.2f} "
            f"({b.floors})   + porto {b.porto_us:5.2f} ({b.porto})   = {b.needed_us:6.2f}: "
            f"{verdict}"
        )
    if not all(b.floors_fit for b in rows):
        print(
            "  -> the floors alone exceed a budget: the three batch targets cannot hold in one "
            "run on this machine with CatBoost and every row logged to PostgreSQL"
        )
    short = [b for b in rows if b.floors_fit and b.needed_us > b.allowed_us]
    if short:
        room = "; ".join(
            f"{b.name}: {b.porto_us:.2f} -> {b.allowed_us - b.floors_us:.2f}" for b in short
        )
        print(f"  -> porto's own steps per row would have to shrink ({room})")


def median_us(call: Callable[[], Any], per: int, repeat: int = 200) -> float:
    """Median wall time of ``call`` (warmed up once) in microseconds, divided by ``per`` rows."""
    call()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e6 / per


def time_steps(
    served: Any, json_body: bytes, csv_body: bytes, writer_us: float, model_floor_us: float
) -> tuple[float, float, Steps]:
    """Time porto's steps on the benchmark's bodies with ``served`` (a loaded
    :class:`~porto_inference.scoring.model.ServedModel`), one core, nothing else running.

    Returns per row: the parse's cost, CatBoost's (the model floor ``model_floor_us``, or
    porto's own call when that is cheaper: it is CatBoost too), and porto's steps, whose model
    step is what porto's call costs beyond that.
    """
    import numpy as np
    import orjson
    from porto_inference.api.routes.predict import batch_json
    from porto_inference.ids import new_prediction_ids
    from porto_inference.scoring.log_entry import log_entry
    from porto_inference.scoring.predict import BatchPredictions

    codec = served.codec
    rows = len(orjson.loads(json_body))
    parse = median_us(lambda: orjson.loads(json_body), rows)
    parse_and_read = median_us(lambda: codec.encode_items(orjson.loads(json_body)), rows)
    batch = codec.encode_items(orjson.loads(json_body))
    csv_batch = codec.encode_csv(csv_body)
    predict = median_us(lambda: served.predict(batch), rows, repeat=100)
    model = min(model_floor_us, predict)  # porto's call is CatBoost too
    proba = served.predict(batch)
    classes = (proba >= served.threshold).astype(np.int8)
    ids = new_prediction_ids(rows)

    def answer() -> bytes:
        scored = BatchPredictions(
            model_name=served.name,
            model_version=served.version,
            threshold=served.threshold,
            prediction_ids=new_prediction_ids(rows),
            probabilities=proba,
            classes=classes,
            ids=batch.ids,
        )
        return batch_json(scored)

    def entry(of: Any) -> Any:
        return log_entry(
            served, "/predict/batch", of, proba, classes, ids, request_id="r", latency_ms=1.0
        )

    steps = Steps(
        json_read_us=max(parse_and_read - parse, 0.0),
        csv_read_us=median_us(lambda: codec.encode_csv(csv_body), csv_batch.rows),
        score_extra_us=predict - model,
        answer_us=median_us(answer, rows),
        json_entry_us=median_us(lambda: entry(batch), rows),
        csv_entry_us=median_us(lambda: entry(csv_batch), rows),
        writer_us=writer_us,
    )
    return parse, model, steps
