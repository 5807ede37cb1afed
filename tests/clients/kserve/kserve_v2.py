"""Talk to porto's Open Inference Protocol routes with the kserve SDK's V2 REST client.

Run by ``tests/inference/api/test_v2_clients.py`` with the interpreter of this folder's own
environment (``make install`` syncs it: the SDK's pins cannot join the workspace). Reads a JSON
job on stdin — ``{"url", "model", "headers", "columns": {feature: [values]}, "datatypes":
{feature: datatype}, "binary": bool}`` — and prints what the client got back as JSON: liveness,
readiness, model readiness, and the ``probability``, ``class`` and ``prediction_id`` outputs.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

NUMPY = {"FP64": np.float64, "FP32": np.float32, "INT64": np.int64, "INT32": np.int32}


async def run(job: dict[str, Any]) -> dict[str, Any]:
    url, model, headers = job["url"], job["model"], job["headers"]
    binary = bool(job["binary"])
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=1, timeout=60))
    try:
        live = await client.is_server_live(url, headers=headers)
        ready = await client.is_server_ready(url, headers=headers)
        model_ready = await client.is_model_ready(url, model, headers=headers)
        inputs = []
        for name, values in job["columns"].items():
            datatype = job["datatypes"][name]
            tensor = InferInput(name=name, shape=[len(values)], datatype=datatype)
            tensor.set_data_from_numpy(np.array(values, dtype=NUMPY[datatype]), binary_data=binary)
            inputs.append(tensor)
        outputs = [
            RequestedOutput(name, {"binary_data": True} if binary else None)
            for name in ("probability", "class", "prediction_id")
        ]
        request = InferRequest(
            model_name=model, infer_inputs=inputs, request_id="kserve-1", request_outputs=outputs
        )
        response = await client.infer(url, request, model_name=model, headers=dict(headers))
        got = {output.name: output.as_numpy() for output in response.outputs}
        ids = [v.decode() if isinstance(v, bytes) else str(v) for v in got["prediction_id"]]
        return {
            "live": live,
            "ready": ready,
            "model_ready": model_ready,
            "id": response.id,
            "probability": got["probability"].tolist(),
            "class": got["class"].tolist(),
            "class_dtype": str(got["class"].dtype),
            "prediction_id": ids,
        }
    finally:
        await client.close()


def main() -> None:
    job = json.load(sys.stdin)
    print(json.dumps(asyncio.run(run(job))))


if __name__ == "__main__":
    main()
