"""bench/budget.py: the batch targets' CPU per row, and porto's steps timed on a real model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import orjson
import pytest
from inference.bundles import MODEL_NAME, publish, train_model
from porto.store import open_store
from porto_inference.scoring.model import ServedModel

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("porto_bench_budget", BENCH / "budget.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


budget = _load()


def _steps(**over: float) -> object:
    values = {
        "json_read_us": 3.5,
        "csv_read_us": 3.3,
        "score_extra_us": 0.0,
        "answer_us": 0.5,
        "json_entry_us": 0.7,
        "csv_entry_us": 0.0,
        "writer_us": 1.0,
    }
    values.update(over)
    return budget.Steps(**values)


def test_budgets_follow_from_the_floor_rate() -> None:
    floors = budget.Floors(
        cores=2, json_floor_rows_per_s=500_000, parse_us=2.4, model_us=2.5, copy_us=1.7
    )
    assert floors.http_parse_us == pytest.approx(4.0)
    assert floors.http_us == pytest.approx(1.6)
    json_row, csv_row, log = budget.budgets(floors, _steps())
    # 40 % of 500,000 rows/s on 2 cores: 10 us per row; CSV 1.5x as fast; the log a quarter.
    assert json_row.allowed_us == pytest.approx(10.0)
    assert csv_row.allowed_us == pytest.approx(10.0 / 1.5)
    assert log.allowed_us == pytest.approx(2.5)
    assert json_row.floors_us == pytest.approx(4.0 + 2.5 + 1.7)
    assert json_row.porto_us == pytest.approx(3.5 + 0.0 + 0.5 + 0.7 + 1.0)
    assert csv_row.floors_us == pytest.approx(1.6 + 2.5 + 1.7)
    assert csv_row.porto_us == pytest.approx(3.3 + 0.5 + 1.0)
    assert log.floors_us == pytest.approx(1.7)
    assert log.porto_us == pytest.approx(1.7)
    assert "CatBoost 2.50" in json_row.floors and "read 3.50" in json_row.porto
    assert all(b.floors_fit for b in (json_row, csv_row, log))
    assert not json_row.needed_us <= json_row.allowed_us


def test_report_says_when_the_floors_alone_do_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    roomy = budget.Floors(
        cores=2, json_floor_rows_per_s=100_000, parse_us=2.0, model_us=2.0, copy_us=1.0
    )
    rows = budget.budgets(roomy, _steps())
    assert all(b.needed_us <= b.allowed_us for b in rows)
    budget.report_budgets(rows, 2)
    out = capsys.readouterr().out
    assert out.count(": fits") == 3 and "cannot hold" not in out and "shrink" not in out

    tight = budget.Floors(
        cores=2, json_floor_rows_per_s=500_000, parse_us=1.0, model_us=3.0, copy_us=2.0
    )
    rows = budget.budgets(tight, _steps())
    assert not rows[1].floors_fit  # CSV: HTTP 3.0 + CatBoost 3.0 + COPY 2.0 > 6.67
    budget.report_budgets(rows, 2)
    out = capsys.readouterr().out
    assert "the floors alone do not fit" in out and "cannot hold in one run" in out
    assert "floors fit, porto's steps do not" in out  # the JSON row
    # JSON: 10 us allowed, floors 4.0 + 3.0 + 2.0, porto 5.7: it would have to fit in 1.0.
    assert "would have to shrink (JSON at 40% of the orjson floor: 5.70 -> 1.00" in out


def test_time_steps_on_a_real_model(tmp_path: Path) -> None:
    from porto.synthetic import generate

    trained = train_model(2000, seed=3, iterations=20)
    store = open_store(str(tmp_path / "artifacts"))
    manifest = publish(store, trained, promote=True)
    served = ServedModel.load(store, MODEL_NAME, manifest.version)
    rows = generate(300, seed=5).frame.drop(columns=["target"])
    json_body = orjson.dumps(rows.to_dict(orient="records"))
    csv_body = rows.to_csv(index=False).encode()
    parse, model, steps = budget.time_steps(served, json_body, csv_body, 1.25, 1e9)
    assert parse > 0 and 0 < model < 1e9  # porto's own CatBoost call, cheaper than that floor
    assert steps.writer_us == 1.25 and steps.score_extra_us == 0.0
    parse, model, steps = budget.time_steps(served, json_body, csv_body, 1.25, 1e-3)
    assert model == 1e-3 and steps.score_extra_us > 0  # what the call costs beyond the floor
    for value in (steps.json_read_us, steps.csv_read_us, steps.answer_us, steps.json_entry_us):
        assert 0 < value < 1_000  # microseconds per row: a real step, not a stub
    assert steps.csv_entry_us >= 0


def test_median_us_divides_by_rows() -> None:
    calls: list[int] = []
    assert budget.median_us(lambda: calls.append(1), per=10, repeat=5) >= 0
    assert len(calls) == 6  # warmed up once, then timed five times
