"""README's Inference API examples, run as a reader would paste them: the ``curl`` commands of
its code block go through ``bash`` to a real ``porto-inference serve`` holding a model trained
with the default config (the one ``make demo`` trains), so the README cannot drift from the API."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from inference.servers import running_server
from porto_inference.server import ServerProcess

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[1] / "README.md"
#: Where the README's examples send their requests (``make demo``'s API).
DEMO_API = "localhost:8000"


def inference_commands() -> list[str]:
    """The ``curl`` commands of the README's "Inference API" code block, each with its
    here-document, as a shell would read them."""
    section = README.read_text().split("\n## Inference API\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "README's Inference API section has no bash block"
    commands: list[str] = []
    lines = iter(block.group(1).splitlines())
    for line in lines:
        if not line.startswith("curl "):
            continue
        command = [line]
        heredoc = re.search(r"<<'(\w+)'", line)
        if heredoc:
            for body in lines:
                command.append(body)
                if body == heredoc.group(1):
                    break
        commands.append("\n".join(command) + "\n")
    return commands


def run(command: str, api: str) -> str:
    """Run one README command against ``api`` (host:port); its stdout."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command.replace(DEMO_API, api)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout


@pytest.fixture(scope="module")
def demo_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The API serving a model of the default training config (as ``make demo`` trains it,
    on fewer rows)."""
    from porto_training.config import load_config
    from porto_training.pipeline import run_training

    home = tmp_path_factory.mktemp("readme-home")
    config = load_config(
        updates={
            "output.store": f"file://{home / 'artifacts'}",
            "data.synthetic.rows": 4000,
            "model.catboost.iterations": 30,
            "model.catboost.thread_count": 2,
            "insights.shap_rows": 100,
            "insights.mutual_info_rows": 500,
        }
    )
    run_training(config, live=False, metrics_port=0)
    logs = tmp_path_factory.mktemp("readme-logs")
    with running_server(home, logs, workers=1, prediction_log=False) as server:
        yield server


def test_readme_predict_example_is_a_complete_record_the_api_scores(
    demo_api: ServerProcess,
) -> None:
    api = f"127.0.0.1:{demo_api.port}"
    commands = inference_commands()
    predict = [c for c in commands if "/predict " in c and "<<'" in c]
    assert len(predict) == 1, commands
    answer = json.loads(run(predict[0], api))
    assert "error" not in answer, answer
    assert 0.0 <= answer["probability"] <= 1.0
    assert answer["id"] == 7

    # Complete: every feature the default config's model reads, and nothing else.
    schema = json.loads(run(next(c for c in commands if "/schema" in c), api))
    sent = json.loads(predict[0].split("\n", 1)[1].rsplit("EOF", 1)[0])
    assert list(sent["features"]) == [f["name"] for f in schema["features"]]
    # The schema's own example is accepted as it is, too.
    example = json.dumps(schema["example"])
    scored = run(
        f"curl -s {DEMO_API}/predict -H 'content-type: application/json' -d '{example}'", api
    )
    assert "probability" in json.loads(scored)
