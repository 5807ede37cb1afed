"""The single-prediction form: one input per feature, prefilled, with a random example.

Widget values live in Session State under a key per version and feature, so "Typical record" and
"Random example" (button callbacks, run before the widgets are drawn) just overwrite them, and
switching versions starts from that version's own typical record.
"""

from __future__ import annotations

import random

import streamlit as st
from porto.contracts.api import PredictResponse
from porto.reference import ReferenceStats
from porto.schema import FeatureKind, FeatureSchema, typical_record

from porto_ui import charts, metrics
from porto_ui.client import ApiClient, ApiRejectedError
from porto_ui.forms import FeatureValue, Field, Record, fields, random_record
from porto_ui.layout import show_rejected

COLUMNS = 4


def _key(version: str, name: str) -> str:
    return f"feature::{version}::{name}"


def _fill(version: str, record: dict[str, FeatureValue | bool]) -> None:
    for name, value in record.items():
        st.session_state[_key(version, name)] = value


def _input(field: Field, key: str) -> FeatureValue | bool:
    """The widget of one feature (its value comes from Session State)."""
    if field.kind is FeatureKind.BINARY:
        return st.toggle(field.name, key=key, help="binary feature: 0 or 1")
    if field.kind is FeatureKind.CATEGORICAL:
        options = field.options or []
        return st.selectbox(
            field.name, options, key=key, help=f"{len(options)} categories seen in training"
        )
    span = f"seen in training: {field.min:g} … {field.max:g}" if field.min is not None else None
    if field.integer:
        return st.number_input(
            field.name,
            min_value=None if field.min is None else int(field.min),
            max_value=None if field.max is None else int(field.max),
            step=1,
            key=key,
            help=span,
        )
    return st.number_input(
        field.name,
        min_value=field.min,
        max_value=field.max,
        step=float(field.step),
        format="%.4f",
        key=key,
        help=span,
    )


def render(
    client: ApiClient, version: str, schema: FeatureSchema, reference: ReferenceStats | None
) -> None:
    """The form, the buttons that prefill it, and the last answer for this version."""
    form_fields = fields(schema)
    for field in form_fields:
        key = _key(version, field.name)
        if key not in st.session_state:
            value = field.default
            st.session_state[key] = bool(value) if field.kind is FeatureKind.BINARY else value
    buttons = st.container(horizontal=True)
    buttons.button(
        "Typical record",
        icon=":material/restart_alt:",
        on_click=lambda: _fill_typed(version, form_fields, typical_record(schema)),
        help="Each feature's median or most frequent category in training.",
    )
    buttons.button(
        "Random example",
        icon=":material/casino:",
        on_click=lambda: _fill_typed(
            version, form_fields, random_record(schema, reference, random.Random())
        ),
        help="Each feature drawn from its training distribution.",
    )
    with st.form(f"single::{version}", border=True):
        groups = [
            ("Numeric", [f for f in form_fields if f.kind is FeatureKind.NUMERIC]),
            ("Categorical", [f for f in form_fields if f.kind is FeatureKind.CATEGORICAL]),
            ("Binary", [f for f in form_fields if f.kind is FeatureKind.BINARY]),
        ]
        record: Record = {}
        for title, group in groups:
            if not group:
                continue
            st.markdown(f"**{title}** · {len(group)}")
            columns = st.columns(COLUMNS)
            for i, field in enumerate(group):
                with columns[i % COLUMNS]:
                    value = _input(field, _key(version, field.name))
                # A binary feature's toggle holds a bool: the API takes it as 0/1.
                record[field.name] = int(value) if isinstance(value, bool) else value
        submitted = st.form_submit_button("Predict", type="primary", icon=":material/bolt:")
    result_key = f"single-result::{version}"
    if submitted:
        ordered = {f.name: record[f.name] for f in form_fields}
        try:
            st.session_state[result_key] = client.predict(ordered, version, explain=True)
            metrics.PREDICTIONS.labels("single").inc()
        except ApiRejectedError as exc:
            st.session_state.pop(result_key, None)
            show_rejected(exc, what="record")
    answer = st.session_state.get(result_key)
    if answer:
        show_answer(answer)


def _fill_typed(version: str, form_fields: list[Field], record: Record) -> None:
    """Prefill, with toggles as booleans (what st.toggle holds)."""
    kinds = {f.name: f.kind for f in form_fields}
    _fill(
        version,
        {n: bool(v) if kinds[n] is FeatureKind.BINARY else v for n, v in record.items()},
    )


def show_answer(answer: PredictResponse) -> None:
    """Probability, class, threshold and model version of one prediction."""
    probability = answer.probability
    threshold = answer.threshold
    cls = answer.class_
    with st.container(border=True):
        a, b, c, d = st.columns(4)
        a.metric("Probability of a claim", f"{probability:.4f}")
        b.metric(
            "Class",
            "1 · claim likely" if cls else "0 · no claim",
            delta=f"{probability - threshold:+.4f} vs threshold",
            delta_color="inverse",
        )
        c.metric("Threshold", f"{threshold:.4f}")
        d.caption("Model version")
        d.markdown(f"**{answer.model_version}**  \n{answer.model_name}")
        st.caption(f"prediction id `{answer.prediction_id}` (send it to /feedback with the label)")
        explanation = answer.explanation
        if explanation is not None:
            st.markdown("**Why this score** · each feature's contribution (exact), in log-odds")
            st.altair_chart(charts.contribution_chart(explanation), width="stretch")
            st.caption(
                f"base value {explanation.base_value:+.4f} + contributions = raw score "
                f"{explanation.raw_score:+.4f}; probability = 1 / (1 + e^-raw score) = "
                f"{answer.probability:.4f}. Red pushes towards class 1, blue towards 0."
            )
