"""How should the default config handle categorical features, and how deep should its trees be?
Time vs AUC for CatBoost variants.

Trains each variant on the same Porto-shaped synthetic split (the training pipeline's own
stratified 70/15/15 split, so at 595,212 rows the test rows are ``make bench-train``'s; early
stopping on the validation part) and prints fit wall and CPU seconds, iterations used, validation
and test AUC and the oracle AUC. The figures behind the choices in ``jobs/training/config.yaml``
come from this script:

    uv run python bench/catboost_experiments.py --rows 595212 [--seed N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from catboost import CatBoostClassifier, Pool
from porto.schema import ColumnRules, FeatureKind, infer_schema, model_frame
from porto.synthetic import generate
from porto_training.split import stratified_split
from sklearn.metrics import roc_auc_score

BASE: dict[str, Any] = {
    "iterations": 2000,
    "learning_rate": 0.08,
    "depth": 6,
    "early_stopping_rounds": 100,
    "eval_metric": "AUC",
    "thread_count": -1,
    "verbose": False,
    "allow_writing_files": False,
}

#: The default config's parameters before the depth was revisited (depth 5, lr 0.1, log-loss).
CONFIG_D5: dict[str, Any] = {
    "iterations": 1500,
    "learning_rate": 0.1,
    "depth": 5,
    "l2_leaf_reg": 3,
    "border_count": 64,
    "one_hot_max_size": 255,
    "max_ctr_complexity": 1,
    "eval_metric": "Logloss",
}

# name -> (use categorical features natively?, drop ps_calc_*?, extra params)
VARIANTS: dict[str, tuple[bool, bool, dict[str, Any]]] = {
    "numeric-all": (False, False, {}),
    "numeric-nocalc": (False, True, {}),
    "cat-default": (True, False, {}),
    "cat-default-nocalc": (True, True, {}),
    "cat-ohe20-ctr1-nocalc": (True, True, {"one_hot_max_size": 20, "max_ctr_complexity": 1}),
    "cat-ohe20-ctr1-b64-nocalc": (
        True,
        True,
        {"one_hot_max_size": 20, "max_ctr_complexity": 1, "border_count": 64},
    ),
    "cat-ohe20-ctr1-b64-lr15-nocalc": (
        True,
        True,
        {
            "one_hot_max_size": 20,
            "max_ctr_complexity": 1,
            "border_count": 64,
            "learning_rate": 0.15,
        },
    ),
    "cat-ohe255-nocalc": (True, True, {"one_hot_max_size": 255}),
    "cat-ohe255-b64-nocalc": (True, True, {"one_hot_max_size": 255, "border_count": 64}),
    "cat-ohe255-lr04-nocalc": (True, True, {"one_hot_max_size": 255, "learning_rate": 0.04}),
    "cat-ohe255-d4-nocalc": (True, True, {"one_hot_max_size": 255, "depth": 4}),
    "cat-ohe255-d8-nocalc": (True, True, {"one_hot_max_size": 255, "depth": 8}),
    "cat-ohe255-all": (True, False, {"one_hot_max_size": 255}),
    "cat-ohe255-b64-d4-lr10-nocalc": (
        True,
        True,
        {"one_hot_max_size": 255, "border_count": 64, "depth": 4, "learning_rate": 0.1},
    ),
    "cat-ohe255-b64-d5-lr10-nocalc": (
        True,
        True,
        {"one_hot_max_size": 255, "border_count": 64, "depth": 5, "learning_rate": 0.1},
    ),
    "cat-ohe255-b128-d5-lr08-nocalc": (
        True,
        True,
        {"one_hot_max_size": 255, "border_count": 128, "depth": 5},
    ),
    # Tree depth, from the config of depth 5 (the generator's signal is nearly additive).
    "config-d5-lr10": (True, True, CONFIG_D5),
    "config-d5-lr05": (True, True, {**CONFIG_D5, "learning_rate": 0.05}),
    "config-d3-lr20": (True, True, {**CONFIG_D5, "depth": 3, "learning_rate": 0.2}),
    "config-d2-lr20": (True, True, {**CONFIG_D5, "depth": 2, "learning_rate": 0.2}),
    "config-d2-lr30": (True, True, {**CONFIG_D5, "depth": 2, "learning_rate": 0.3}),
    "config-d1-lr30": (True, True, {**CONFIG_D5, "depth": 1, "learning_rate": 0.3}),
    "config-d1-lr50": (True, True, {**CONFIG_D5, "depth": 1, "learning_rate": 0.5}),
    "config-d1-lr80": (True, True, {**CONFIG_D5, "depth": 1, "learning_rate": 0.8}),
}


def main() -> None:
    """Run the selected variants and print one table row each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()

    data = generate(args.rows, seed=args.seed)
    frame, prob = data.frame, data.probability
    y = frame["target"].to_numpy()
    split = stratified_split(y, validation_fraction=0.15, test_fraction=0.15, seed=args.seed)
    train_idx, val_idx, test_idx = split.train, split.validation, split.test
    oracle = roc_auc_score(y[test_idx], prob[test_idx])
    print(f"rows={args.rows} train={len(train_idx)} oracle_test_auc={oracle:.4f}")
    head = f"{'variant':34s} {'fit_s':>7s} {'cpu_s':>7s} {'iters':>6s} {'val_auc':>8s}"
    print(f"{head} {'test_auc':>8s}")
    for name, (use_cat, nocalc, extra) in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        rules = ColumnRules(drop_prefixes=["ps_calc_"] if nocalc else [])
        if not use_cat:
            rules = rules.model_copy(update={"categorical_suffixes": []})
        schema = infer_schema(
            frame.iloc[train_idx], target="target", id_column="id", missing_value=-1, rules=rules
        )
        x = model_frame(frame, schema, categorical=True)
        cats = [s.name for s in schema.features if s.kind is FeatureKind.CATEGORICAL]
        params = {**BASE, **extra}
        model = CatBoostClassifier(**params, random_seed=args.seed)
        start, cpu_start = time.perf_counter(), time.process_time()
        model.fit(
            Pool(x.iloc[train_idx], y[train_idx], cat_features=cats),
            eval_set=Pool(x.iloc[val_idx], y[val_idx], cat_features=cats),
            use_best_model=True,
        )
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        val_auc = roc_auc_score(y[val_idx], model.predict_proba(x.iloc[val_idx])[:, 1])
        test_auc = roc_auc_score(y[test_idx], model.predict_proba(x.iloc[test_idx])[:, 1])
        print(
            f"{name:34s} {seconds:7.1f} {cpu:7.1f} {model.tree_count_:6d} {val_auc:8.4f}"
            f" {test_auc:8.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
