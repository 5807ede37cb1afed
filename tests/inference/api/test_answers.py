"""The prediction routes write their answers with orjson, not pydantic (a BatchRow per row
would cost more than scoring the row): the bytes must be what the response contracts in
porto.contracts.api (and porto.contracts.oip for the V2 infer routes) describe, field for field
and in their order."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import orjson
import pytest
from porto.contracts.api import BatchResponse, BatchRow, PredictResponse
from porto.contracts.oip import InferenceResponse, ResponseOutput
from porto.flavors.base import Contributions
from porto_inference.api.routes.predict import batch_json, predict_json
from porto_inference.scoring.oip import InferBody, answer
from porto_inference.scoring.predict import BatchPredictions, Explained, Prediction
from pydantic import BaseModel


def _keys(contract: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in contract.model_fields.items()]


def _prediction(record_id: list[Any] | None) -> Prediction:
    return Prediction(
        prediction_id="p",
        probability=0.25,
        class_=0,
        threshold=0.5,
        model_name="porto",
        model_version="v1",
        id=record_id,
    )


def test_a_prediction_answers_as_predict_response_does() -> None:
    answer = predict_json(_prediction([7]))
    model = PredictResponse.model_validate_json(answer)
    # No explanation unless asked: the key is left out, as FastAPI leaves unset fields out.
    assert list(orjson.loads(answer)) == [k for k in _keys(PredictResponse) if k != "explanation"]
    assert answer == model.model_dump_json(by_alias=True, exclude={"explanation"}).encode()


def _explained(rows: int) -> Explained:
    values = np.arange(rows * 2, dtype=np.float64).reshape(rows, 2) / 10
    return Explained(["a", "b"], Contributions(base=np.full(rows, -1.5), values=values))


def test_an_explained_prediction_answers_as_predict_response_does() -> None:
    answer = predict_json(replace(_prediction([7]), explained=_explained(1)))
    model = PredictResponse.model_validate_json(answer)
    assert list(orjson.loads(answer)) == _keys(PredictResponse)
    assert answer == model.model_dump_json(by_alias=True).encode()
    assert model.explanation is not None
    assert model.explanation.contributions == {"a": 0.0, "b": 0.1}
    assert model.explanation.raw_score == pytest.approx(-1.4)


def test_a_record_without_id_has_no_id_key_and_a_null_id_is_kept() -> None:
    assert "id" not in orjson.loads(predict_json(_prediction(None)))
    assert orjson.loads(predict_json(_prediction([None])))["id"] is None


def _batch(ids: list[Any] | None) -> BatchPredictions:
    return BatchPredictions(
        model_name="porto",
        model_version="v1",
        threshold=0.5,
        prediction_ids=["a", "b", "c"],
        probabilities=np.array([0.1, 0.5, 0.9]),
        classes=np.array([0, 1, 1], dtype=np.int8),
        ids=ids,
    )


def test_a_batch_answers_as_batch_response_does() -> None:
    answer = batch_json(_batch([7, None, "x"]))
    model = BatchResponse.model_validate_json(answer)
    data = orjson.loads(answer)
    assert list(data) == _keys(BatchResponse)
    row_keys = [k for k in _keys(BatchRow) if k != "explanation"]
    assert [list(row) for row in data["predictions"]] == [row_keys] * 3
    unset = {"predictions": {"__all__": {"explanation"}}}
    assert answer == model.model_dump_json(by_alias=True, exclude=unset).encode()
    explained = batch_json(replace(_batch([7, None, "x"]), explained=_explained(3)))
    rows = BatchResponse.model_validate_json(explained).predictions
    assert [list(row) for row in orjson.loads(explained)["predictions"]] == [_keys(BatchRow)] * 3
    assert [r.explanation.base_value for r in rows if r.explanation] == [-1.5] * 3
    assert [(r.row, r.class_, r.id) for r in model.predictions] == [
        (0, 0, 7),
        (1, 1, None),
        (2, 1, "x"),
    ]


def test_batch_rows_without_ids_have_no_id_key() -> None:
    rows = orjson.loads(batch_json(_batch(None)))["predictions"]
    assert [list(row) for row in rows] == [["row", "prediction_id", "probability", "class"]] * 3


def _infer_answer(request_id: str | None, binary: bool) -> bytes:
    outputs = [
        (name, binary and name == "class") for name in ("probability", "class", "prediction_id")
    ]
    body = InferBody(
        id=request_id, names=[], datatypes=[], shapes=[], columns=[], outputs=outputs, rows=3
    )
    written = answer(
        body,
        model_name="porto",
        model_version="v1",
        threshold=0.5,
        probabilities=np.array([0.1, 0.5, 0.9]),
        classes=np.array([0, 1, 1], dtype=np.int8),
        prediction_ids=["a", "b", "c"],
    )
    assert (written.header_length is not None) == binary
    return written.content[: written.header_length]


def test_an_infer_answer_is_the_v2_response_contract() -> None:
    for request_id in ("r1", None):
        for binary in (False, True):
            answer = _infer_answer(request_id, binary)
            model = InferenceResponse.model_validate_json(answer)
            assert answer == model.model_dump_json(exclude_none=True).encode()
            data = orjson.loads(answer)
            assert list(data) == [k for k in _keys(InferenceResponse) if k != "id" or request_id]
            for output in data["outputs"]:
                keys = _keys(ResponseOutput)
                assert list(output) == [
                    k for k in keys if k != ("data" if "parameters" in output else "parameters")
                ]
    outputs = orjson.loads(_infer_answer(None, False))["outputs"]
    assert [o["data"] for o in outputs] == [[0.1, 0.5, 0.9], [0, 1, 1], ["a", "b", "c"]]
