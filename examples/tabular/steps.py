"""Steps of the example pipeline: prepare -> (validate) -> train -> evaluate (-> gate).

Each step is ``def step(ctx: StepContext) -> None`` (docs/pipelines.md). The model travels
between steps as a *model directory* written by :func:`slipway.pipelines.gates.save_model_dir`:
the files the Slipway flavor writes (``model.skops`` for scikit-learn, skops format, never
pickle) plus ``slipway-model.json``, the descriptor the registry would store. The gate step
registers it; :func:`load_model_dir` reads one back with the same trust rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from slipway.flavors import LoadOptions, get_flavor
from slipway.pipelines import StepContext
from slipway.pipelines.gates import DESCRIPTOR_FILE, save_model_dir

TARGET = "target"


def prepare(ctx: StepContext) -> None:
    """Split scikit-learn's breast-cancer data into train and evaluation Parquet files.

    ``production_data`` (set by continuous training, docs/continuous-training.md): a Parquet
    file of labelled production rows, appended to the reference data before the split, so the
    candidate learns what production looks like now and the gate measures it there too."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer(as_frame=True).frame
    extra = str(ctx.params.get("production_data") or "")
    if extra:
        production = pd.read_parquet(extra)
        missing = sorted(set(data.columns) - set(production.columns))
        if missing:
            raise ValueError(f"{extra}: production data lacks columns {missing}")
        ctx.logger.info("adding %d labelled production rows from %s", len(production), extra)
        data = pd.concat([data, production[data.columns]], ignore_index=True)
    train, evaluation = train_test_split(
        data,
        test_size=_float(ctx, "test_size"),
        random_state=_int(ctx, "seed"),
        stratify=data[TARGET],
    )
    train.to_parquet(ctx.output("train"), index=False)
    evaluation.to_parquet(ctx.output("eval"), index=False)
    ctx.logger.info("train: %d rows, eval: %d rows", len(train), len(evaluation))


def train(ctx: StepContext) -> None:
    """Fit a gradient-boosting classifier and write it as a model directory."""
    from sklearn.ensemble import GradientBoostingClassifier

    data = pd.read_parquet(ctx.input("train"))
    model = GradientBoostingClassifier(
        n_estimators=_int(ctx, "n_estimators"),
        max_depth=_int(ctx, "max_depth"),
        learning_rate=_float(ctx, "learning_rate"),
        random_state=_int(ctx, "seed"),
    )
    features = data.drop(columns=[TARGET])
    model.fit(features, data[TARGET])
    save_model_dir(model, ctx.output("model"), input_example=features.head(5))


def evaluate(ctx: StepContext) -> None:
    """Score the model on the evaluation data; write the metrics as JSON and log them."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    model = load_model_dir(ctx.input("model"))
    data = pd.read_parquet(ctx.input("eval"))
    features, labels = data.drop(columns=[TARGET]), data[TARGET]
    scores = model.predict_proba(features)[:, 1]
    predicted = model.predict(features)
    metrics = {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1": float(f1_score(labels, predicted)),
    }
    ctx.output("metrics").write_text(json.dumps(metrics, indent=2))
    ctx.log_metrics(metrics)


def load_model_dir(directory: Path) -> Any:
    """Load a model directory written by ``save_model_dir`` (the pipeline's own train step);
    trusts only the types its flavor metadata lists as needed."""
    document = json.loads((directory / DESCRIPTOR_FILE).read_text())
    metadata = document["flavor_metadata"]
    options = LoadOptions(trusted_types=tuple(metadata.get("untrusted_types", ())))
    return get_flavor(document["flavor"]).load(directory, metadata, options)


def _int(ctx: StepContext, key: str) -> int:
    value = ctx.params[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"param {key!r} must be an integer, got {value!r}")
    return value


def _float(ctx: StepContext, key: str) -> float:
    value = ctx.params[key]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"param {key!r} must be a number, got {value!r}")
    return float(value)
