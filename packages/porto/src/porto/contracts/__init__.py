"""Typed contracts between training, inference and the UI: what one side writes, another reads.

- ``run``: a training run's metrics (``metrics.json``, the manifest's ``metrics``)
- ``insights``, ``plots``: the bundle's ``insights/*.json`` and ``plots/*.json``
- ``api``: the inference API's prediction, feedback and model answers
- ``serving``: what a worker serves (``/ready``, promotion)
- ``monitoring``: the ``/monitoring/*`` answers
- ``replay``: a replay's request and report (``POST /monitoring/replay``, the CLI's ``--json``)
- ``report``: a version's report and model card (``/models/{version}/report``)

They import pydantic and porto's light modules only: the UI, which installs no model library,
reads every one of them.
"""
