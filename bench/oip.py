"""The Open Inference Protocol (KServe V2) part of the API benchmark: its request bodies, its wrk
runs and its figures against /predict's (target: as fast as /predict within 15 %).

``bench/bench_api.py`` (``make bench-api``) calls :func:`write_bodies`, :func:`run` and
:func:`report` beside its own runs. Alone, this module measures just its part, /predict and the
V2 route side by side on one server (a model, PostgreSQL and the API as bench_api starts them):

    uv run python bench/oip.py [--duration 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

#: The route the runs post to (the served version).
INFER = "/v2/models/porto/infer"
V2_SINGLE = "api V2 single row"
V2_SINGLE_MATRIX = "api V2 single row 2-D"
V2_BATCH1000 = "api V2 batch 1000"
#: Within this share of /predict's rate (requests or rows per second) counts as as fast.
TOLERANCE = 0.15
BODY_VARIANTS = 200


def _datatype(values: list[Any]) -> str:
    if any(type(v) is str for v in values):
        return "BYTES"
    return "INT64" if all(type(v) is int for v in values) else "FP64"


def infer_body(records: list[dict[str, Any]], names: list[str]) -> bytes:
    """A V2 inference request for ``records``: one input per feature, in model order."""
    inputs = []
    for name in names:
        values = [r[name] for r in records]
        inputs.append(
            {"name": name, "shape": [len(records)], "datatype": _datatype(values), "data": values}
        )
    return orjson.dumps({"inputs": inputs})


def matrix_body(records: list[dict[str, Any]], names: list[str]) -> bytes:
    """A V2 inference request for ``records`` as one 2-D input [n, features] in model order
    (the protocol's other form; values keep their JSON types, so categories stay as sent)."""
    data = [[r[name] for name in names] for r in records]
    shape = [len(records), len(names)]
    return orjson.dumps(
        {"inputs": [{"name": "input", "shape": shape, "datatype": "FP64", "data": data}]}
    )


def write_bodies(work: Path, schema: Any) -> dict[str, Path]:
    """The V2 bodies, one per line: single rows and 1,000-row batches of the same synthetic rows
    (same generator and seed) as bench_api's /predict bodies, one input per feature."""
    from porto.synthetic import generate

    rows = generate(20_000, seed=7).frame.drop(columns=["target"])
    records: list[dict[str, Any]] = orjson.loads(orjson.dumps(rows.to_dict(orient="records")))
    names = list(schema.names)
    out: dict[str, Path] = {}

    def write(name: str, bodies: list[bytes]) -> None:
        path = work / f"{name}.bodies"
        path.write_bytes(b"\n".join(bodies) + b"\n")  # orjson writes no newline inside
        out[name] = path

    write("v2single", [infer_body([r], names) for r in records[:BODY_VARIANTS]])
    write("v2single2d", [matrix_body([r], names) for r in records[:BODY_VARIANTS]])
    write(
        "v2batch1000",
        [infer_body(records[i * 1000 : i * 1000 + 1000], names) for i in range(10)],
    )
    return out


def run(measure: Callable[[str, str, str, str], None], api_url: str) -> None:
    """The V2 runs, by bench_api's ``run(name, url, bodies, content type)``."""
    measure(V2_SINGLE, api_url + INFER, "v2single", "application/json")
    measure(V2_SINGLE_MATRIX, api_url + INFER, "v2single2d", "application/json")
    measure(V2_BATCH1000, api_url + INFER, "v2batch1000", "application/json")


def _cpu_us(run: dict[str, Any]) -> float | None:
    """CPU per request of the API's workers and PostgreSQL, when the run measured it."""
    if "server_cpu_us" not in run:
        return None
    return float(run["server_cpu_us"] + run.get("pg_cpu_us", 0.0))


def report(results: dict[str, dict[str, Any]], single: str, batch1000: str) -> None:
    """Print the V2 figures and each against /predict's (``single``, ``batch1000``: the names
    of /predict's single-row and 1,000-row JSON runs in ``results``): by throughput, and by CPU
    time per request, which moves much less with whatever else runs on the machine."""
    pairs = [
        (V2_SINGLE, single, 1, "req/s"),
        (V2_SINGLE_MATRIX, single, 1, "req/s"),
        (V2_BATCH1000, batch1000, 1000, "rows/s"),
    ]
    target = 1 - TOLERANCE
    print()
    print(f"open inference protocol (V2, {INFER}), target: within {TOLERANCE:.0%} of /predict")
    for v2, named, rows, unit in pairs:
        ours, theirs = results[v2], results[named]
        rate, reference = ours["rps"] * rows, theirs["rps"] * rows
        ratio = rate / reference if reference else 0.0
        print(
            f"  {v2:<20} {rate:>9.0f} {unit:<6} p50 {ours['p50_ms']:6.2f} ms  "
            f"p99 {ours['p99_ms']:7.2f} ms   /predict: {reference:>9.0f} {unit:<6} "
            f"p50 {theirs['p50_ms']:6.2f} ms   ratio {ratio:6.1%}  target >= {target:.0%}: "
            f"{'PASS' if ratio >= target else 'FAIL'}   non-2xx {ours['non2xx']}"
        )
        cpu, cpu_reference = _cpu_us(ours), _cpu_us(theirs)
        if cpu and cpu_reference:
            by_cpu = cpu_reference / cpu
            print(
                f"  {'':<20} CPU per request {cpu:>9.0f} us (API + PostgreSQL), /predict "
                f"{cpu_reference:.0f} us: ratio by CPU {by_cpu:6.1%}  target >= {target:.0%}: "
                f"{'PASS' if by_cpu >= target else 'FAIL'}"
            )


def main() -> int:
    """Just this part: /predict and V2, single rows and 1,000-row batches, on one server."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds per wrk run.")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads.")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_api
    from harness.ports import free_port
    from harness.postgres import PostgresServer
    from porto_inference.server import start_server

    wrk_bin = bench_api.ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="porto-bench-oip-"))
    home = work / "home"
    _, _, schema = bench_api.build_model(home)
    bodies = {**bench_api.write_bodies(work), **write_bodies(work, schema)}
    postgres = PostgresServer()
    postgres.start()
    postgres_pid = postgres._proc.pid if postgres._proc is not None else os.getpid()
    api = start_server(
        port=free_port(),
        workers=args.workers,
        env={
            "PORTO_HOME": str(home),
            "PORTO_INFERENCE_DATABASE_URL": postgres.dsn,
            "PORTO_INFERENCE_LOG_REQUESTS": "true",
        },
        log_file=work / "api.log",
    )
    results: dict[str, dict[str, Any]] = {}
    try:
        api.wait_ready(120)
        common = {"threads": args.threads, "connections": args.connections, "work": work}

        def measure(name: str, url: str, body: str, content_type: str) -> None:
            bench_api.drain(api.url)
            bench_api.wrk(wrk_bin, url, bodies[body], content_type, seconds=2, **common)
            cpu = bench_api.cpu_seconds(api.process.pid), bench_api.cpu_seconds(postgres_pid)
            results[name] = r = bench_api.wrk(
                wrk_bin, url, bodies[body], content_type, seconds=args.duration, **common
            )
            bench_api.drain(api.url)  # the log's writing counts in the request's CPU
            requests = max(1, r["requests"])
            r["server_cpu_us"] = (bench_api.cpu_seconds(api.process.pid) - cpu[0]) / requests * 1e6
            r["pg_cpu_us"] = (bench_api.cpu_seconds(postgres_pid) - cpu[1]) / requests * 1e6
            print(f"  {name:<28} {r['rps']:>9.0f} req/s   p50 {r['p50_ms']:>7.2f} ms", flush=True)

        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        measure(bench_api.SINGLE, api.url + "/predict", "single", "application/json")
        measure(bench_api.BATCH1000, api.url + "/predict/batch", "batch1000", "application/json")
        run(measure, api.url)
    finally:
        api.stop()
        postgres.close()
        shutil.rmtree(work, ignore_errors=True)
    report(results, bench_api.SINGLE, bench_api.BATCH1000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
