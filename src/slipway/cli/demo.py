"""``slipway demo``: the loop so far, on the embedded default, with data scikit-learn ships."""

from __future__ import annotations

import time

from rich.panel import Panel

from slipway.cli.output import console, print_table

MODEL_NAME = "breast-cancer"
EXPERIMENT = "slipway-demo"


def demo() -> None:
    """Train a model, log the run, register a version, make it champion, load it back, predict."""
    # Imported here: scikit-learn costs seconds to import and no other command needs it.
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    import slipway

    started = time.perf_counter()
    console.print(f"tracking store: [bold]{slipway.get_tracking_uri()}[/bold]")
    data = load_breast_cancer(as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0, stratify=data.target
    )
    params = {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1, "random_state": 0}

    slipway.set_experiment(EXPERIMENT)
    with slipway.start_run(run_name="gbm-breast-cancer") as run:
        slipway.log_params(params)
        slipway.log_input(x_train, name="breast-cancer-train", source="sklearn.datasets")
        slipway.log_input(x_test, name="breast-cancer-test", context="evaluation")
        model = GradientBoostingClassifier(**params)
        with console.status("training GradientBoostingClassifier"):
            model.fit(x_train, y_train)
        # Training curve: one point per boosting stage, as a training loop would log it.
        for step, proba in enumerate(model.staged_predict_proba(x_test)):
            slipway.log_metric("test_roc_auc", float(roc_auc_score(y_test, proba[:, 1])), step=step)
        scores = model.predict_proba(x_test)[:, 1]
        metrics = {
            "roc_auc": float(roc_auc_score(y_test, scores)),
            "accuracy": float(accuracy_score(y_test, model.predict(x_test))),
        }
        slipway.log_metrics(metrics)
        logged = slipway.log_model(model, "model", input_example=x_train.head(5))
    console.print(f"run [bold]{run.info.run_id}[/bold] finished: {metrics}")

    version = slipway.register_model(logged.model_uri, MODEL_NAME)
    slipway.set_alias(MODEL_NAME, "champion", version.version)
    console.print(f"registered [bold]{MODEL_NAME}[/bold] version {version.version} as champion")

    champion = slipway.load_model(f"models:/{MODEL_NAME}@champion")
    sample = x_test.head(5)
    predicted = np.asarray(champion.predict(sample))
    print_table(
        f"models:/{MODEL_NAME}@champion on 5 held-out rows",
        ["row", "predicted", "actual"],
        [
            (int(i), int(p), int(a))
            for i, p, a in zip(sample.index, predicted, y_test.head(5), strict=True)
        ],
    )
    console.print(
        Panel.fit(
            f"slipway models show {MODEL_NAME}\n"
            f"slipway models lineage {MODEL_NAME} {version.version}\n"
            f"slipway runs show {run.info.run_id}",
            title=f"done in {time.perf_counter() - started:.1f}s; look around with",
        )
    )
