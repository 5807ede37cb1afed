"""porto / Model quality: five panels (F1, predictions per minute, request rate and latency, score
distribution, predictions by class), then live quality from feedback against the served model's
training metrics, champion against challengers on the same labels, input drift and data quality,
and training Jobs.
"""

from __future__ import annotations

from porto_dashboards.common import (
    ENDPOINT,
    MODEL_VERSION,
    NAMESPACE,
    RATE,
    SERVICE,
    SERVICE_VAR,
    TAGS,
    quantile,
)
from porto_dashboards.grafana import (
    Dashboard,
    Override,
    Query,
    Row,
    bargauge,
    heatmap,
    stat,
    timeseries,
)

S = SERVICE
SV = f'{S}, model_version=~"$model_version"'
#: The served-model collectors label the version ``version`` (the others ``model_version``).
SVV = f'{S}, version=~"$model_version"'
#: PSI rule of thumb: below 0.1 stable, 0.1–0.25 a moderate shift, above 0.25 a major one.
PSI_STEPS = ((None, "green"), (0.1, "orange"), (0.25, "red"))
LIVE_METRICS = (
    ("model_roc_auc", "ROC-AUC"),
    ("model_f1_score", "F1"),
    ("model_precision", "precision"),
    ("model_recall", "recall"),
)

OVERVIEW = (
    Row("Overview"),
    stat(
        "Model F1 score",
        "F1 at the model's threshold over the feedback window, per served version (computed "
        "from the prediction log once labels arrive through /feedback).",
        "none",
        Query(f"max by (model_version) (model_f1_score{{{SV}}})", "{{model_version}}"),
        width=6,
        height=8,
        decimals=3,
    ),
    stat(
        "Predictions per minute",
        "Rows scored per minute (single predictions and batch rows).",
        "short",
        Query(f"sum(rate(predictions_total{{{SV}}}[{RATE}])) * 60", "rows/min"),
        width=6,
        height=8,
        decimals=0,
    ),
    timeseries(
        "Request rate & latency",
        "Prediction requests per second (left axis) and their 95th percentile latency "
        "(right axis).",
        "reqps",
        Query(
            f'sum(rate(http_requests_total{{{S}, handler=~"/predict.*"}}[{RATE}]))',
            "requests/s",
        ),
        Query(
            quantile(0.95, "inference_latency_seconds", f'{S}, {ENDPOINT}=~"/predict.*"'),
            "p95 latency",
        ),
        overrides=(Override("B", "s", axis_right=True),),
        min=0,
    ),
    heatmap(
        "Prediction score distribution",
        "Predicted probabilities over time: rows per 0.05-wide score bucket.",
        "short",
        Query(
            f"sum by (le) (increase(prediction_score_distribution_bucket{{{SV}}}[{RATE}]))",
            "{{le}}",
            heatmap=True,
        ),
    ),
    timeseries(
        "Predictions by class",
        "Rows scored per second by predicted class (at the model's threshold).",
        "short",
        Query(
            f"sum by (class) (rate(predictions_total{{{SV}}}[{RATE}]))",
            "class {{class}}",
        ),
        min=0,
        stack=True,
    ),
)

LIVE = (
    Row("Live quality (from feedback)"),
    timeseries(
        "Live quality",
        "ROC-AUC, F1, precision and recall over the feedback window, per model version.",
        "none",
        *(
            Query(f"max by (model_version) ({metric}{{{SV}}})", f"{name} {{{{model_version}}}}")
            for metric, name in LIVE_METRICS
        ),
        min=0,
        max=1,
    ),
    timeseries(
        "Live Gini",
        "Normalised Gini (2 x ROC-AUC - 1, the Porto Seguro competition's metric) over the "
        "feedback window, per model version, against the Gini the version reached on its "
        "training holdout.",
        "none",
        Query(f"2 * max by (model_version) (model_roc_auc{{{SV}}}) - 1", "live {{model_version}}"),
        Query(
            f'max by (version) (model_training_metric{{{SVV}, metric="gini_normalized"}})',
            "training {{version}}",
        ),
        min=-1,
        max=1,
    ),
    timeseries(
        "Live F1 vs training F1",
        "F1 on live feedback against the F1 the version reached on its training holdout; "
        "the PortoModelF1BelowTraining alert fires when live falls below 80 % of training.",
        "none",
        Query(f"max by (model_version) (model_f1_score{{{SV}}})", "live {{model_version}}"),
        Query(
            f'max by (version) (model_training_metric{{{SVV}, metric="f1"}})',
            "training {{version}}",
        ),
        min=0,
        max=1,
    ),
    stat(
        "Labelled predictions in window",
        "Predictions with a label in the feedback window, per version: live metrics on a few "
        "hundred labels are noisy.",
        "short",
        Query(f"max by (model_version) (model_feedback_samples{{{SV}}})", "{{model_version}}"),
        width=6,
    ),
    stat(
        "Feedback coverage",
        "Labels received for known predictions (applied now or parked until the prediction "
        "is logged) per row scored, over the selected time range.",
        "percentunit",
        Query(
            f'sum(increase(feedback_total{{{S}, outcome=~"applied|pending"}}[$__range])) / '
            f"sum(increase(predictions_total{{{S}}}[$__range]))",
            "coverage",
        ),
        width=6,
        decimals=1,
    ),
    timeseries(
        "Feedback by outcome",
        "Labels received per second: applied, parked (prediction not logged yet) or unknown "
        "(no such prediction id).",
        "short",
        Query(
            f"sum by (outcome) (rate(feedback_total{{{S}}}[{RATE}]))",
            "{{outcome}}",
        ),
        min=0,
        height=4,
    ),
)

#: The comparison gauges: champion (role) against each challenger version on the same labels.
COMPARED = (
    ("challenger_roc_auc", "AUC"),
    ("challenger_gini", "Gini"),
)

CHALLENGERS = (
    Row("Challengers"),
    timeseries(
        "Champion vs challenger: ROC-AUC and Gini",
        "Realized ROC-AUC and normalised Gini of the champion and of each challenger version "
        "on the same labelled rows (shadow scores joined with the served predictions' labels), "
        "over the feedback window. No data until challengers are configured "
        "(PORTO_INFERENCE_CHALLENGERS) and their rows are labelled.",
        "none",
        *(
            Query(
                f"max by (model_version, role) ({metric}{{{S}}})",
                f"{name} {{{{role}}}} (vs {{{{model_version}}}})",
            )
            for metric, name in COMPARED
        ),
        min=-1,
        max=1,
    ),
    timeseries(
        "Champion vs challenger: F1 and calibration",
        "F1 at each model's own threshold and expected calibration error (ECE, lower is "
        "better) of champion and challenger on the same labelled rows.",
        "none",
        Query(
            f"max by (model_version, role) (challenger_f1{{{S}}})",
            "F1 {{role}} (vs {{model_version}})",
        ),
        Query(
            f"max by (model_version, role) (challenger_ece{{{S}}})",
            "ECE {{role}} (vs {{model_version}})",
        ),
        min=0,
        max=1,
    ),
    stat(
        "Labels behind the comparison",
        "Labelled rows both the champion and the challenger version scored, in the feedback "
        "window: the promotion suggestion (GET /monitoring/challengers) wants "
        "PORTO_INFERENCE_PROMOTE_MIN_LABELS of them.",
        "short",
        Query(f"max by (model_version) (challenger_labels{{{S}}})", "{{model_version}}"),
        width=6,
        decimals=0,
    ),
    timeseries(
        "Shadow scoring",
        "Rows challengers scored in shadow per second, by version, and rows they skipped, by "
        "why (queue full, not loaded, input refused, scoring or database errors).",
        "short",
        Query(
            f"sum by (model_version) (rate(challenger_shadow_rows_total{{{S}}}[{RATE}]))",
            "scored {{model_version}}",
        ),
        Query(
            f"sum by (reason) (rate(challenger_shadow_skipped_total{{{S}}}[{RATE}]))",
            "skipped {{reason}}",
        ),
        min=0,
        width=18,
    ),
)

DATA = (
    Row("Drift and data quality"),
    bargauge(
        "Feature drift (PSI), top 15",
        "Population stability index of each feature's recent values against the training "
        "reference (0.1 moderate, 0.25 major shift).",
        "none",
        Query(
            f"topk(15, max by (feature) (feature_drift_psi{{{SV}}}))",
            "{{feature}}",
            instant=True,
        ),
        thresholds=PSI_STEPS,
        height=10,
    ),
    timeseries(
        "Drift over time (PSI)",
        "PSI of the predicted scores and of the five most drifted features.",
        "none",
        Query(
            f"max by (model_version) (prediction_drift_psi{{{SV}}})",
            "scores {{model_version}}",
        ),
        Query(f"topk(5, max by (feature) (feature_drift_psi{{{SV}}}))", "{{feature}}"),
        min=0,
        thresholds=PSI_STEPS,
        height=10,
    ),
    bargauge(
        "Missing-value rate, top 15 features",
        "Share of recent rows (the drift window) with the feature missing.",
        "percentunit",
        Query(
            f"topk(15, max by (feature) (feature_missing_ratio{{{SV}}}))",
            "{{feature}}",
            instant=True,
        ),
        max=1,
    ),
    timeseries(
        "Missing values per second",
        "Missing values in scored rows per second, for the five features missing most often "
        "over the selected time range.",
        "short",
        Query(
            f"sum by (feature) (rate(feature_missing_values_total{{{S}}}[{RATE}])) "
            f"and topk(5, sum by (feature) (increase(feature_missing_values_total{{{S}}}"
            f"[$__range])))",
            "{{feature}}",
        ),
        min=0,
    ),
    timeseries(
        "Unseen categories",
        "Categorical values never seen in training, per second and feature (the model treats "
        "them as a category of their own).",
        "short",
        Query(
            f"sum by (feature) (rate(feature_unseen_categories_total{{{S}}}[{RATE}]))",
            "{{feature}}",
        ),
        min=0,
    ),
)

SERVED = (
    Row("Served model"),
    stat(
        "Served model version",
        "The version each pod serves (alias champion, falling back to latest).",
        "none",
        Query(
            f"max by (version, alias, model_type) (model_info{{{S}}})",
            "{{version}} ({{alias}}, {{model_type}})",
        ),
        width=6,
        text_mode="name",
        graph=False,
    ),
    stat(
        "Training metrics of the served model",
        "Holdout metrics recorded in the bundle's manifest when the version was trained.",
        "none",
        Query(
            f"max by (version, metric) (model_training_metric{{{SVV}, "
            f'metric=~"roc_auc|pr_auc|f1|precision|recall|log_loss"}})',
            "{{metric}} {{version}}",
        ),
        width=12,
        decimals=3,
        text_mode="value_and_name",
        graph=False,
    ),
    stat(
        "Training Jobs failed",
        "porto training Jobs in the namespace that gave up: their Failed condition is true "
        "(kube-state-metrics). A pod that failed and was retried successfully does not count.",
        "short",
        Query(
            'sum(kube_job_failed{namespace="$namespace", job_name=~".*train.*", condition="true"})',
            "failed",
        ),
        width=6,
        thresholds=((None, "green"), (1, "red")),
        graph=False,
    ),
)

DASHBOARD = Dashboard(
    uid="porto-model-quality",
    title="porto / Model quality",
    description="Predictions, live quality from feedback against training metrics, drift and "
    "data quality of the model the porto inference API serves.",
    tags=(*TAGS, "model-quality"),
    variables=(NAMESPACE, SERVICE_VAR, MODEL_VERSION),
    items=(*OVERVIEW, *LIVE, *CHALLENGERS, *DATA, *SERVED),
)
