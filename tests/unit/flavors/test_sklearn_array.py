"""SklearnPredictor.predict_array: the server's pandas-free path gives the same answers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from slipway.flavors.sklearn import SklearnPredictor

X, Y = load_breast_cancer(return_X_y=True, as_frame=True)
COLUMNS = tuple(str(c) for c in X.columns)


def test_array_estimator_fitted_on_a_frame_gives_the_frame_answers() -> None:
    predictor = SklearnPredictor(DecisionTreeClassifier(random_state=0).fit(X, Y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature-names warning escapes
        got = predictor.predict_array(X.to_numpy(), COLUMNS)
    np.testing.assert_array_equal(got, predictor.predict(X))


def test_columns_in_another_order_are_put_back_in_the_fitted_order() -> None:
    predictor = SklearnPredictor(DecisionTreeClassifier(random_state=0).fit(X, Y))
    shuffled = X[list(reversed(X.columns))]
    got = predictor.predict_array(shuffled.to_numpy(), tuple(reversed(COLUMNS)))
    np.testing.assert_array_equal(got, predictor.predict(X))


def test_a_pipeline_selecting_columns_by_name_gets_a_frame() -> None:
    select = ColumnTransformer([("scale", StandardScaler(), ["mean radius", "mean texture"])])
    pipeline = make_pipeline(select, LogisticRegression()).fit(X, Y)
    predictor = SklearnPredictor(pipeline)
    got = predictor.predict_array(X.to_numpy(), COLUMNS)
    np.testing.assert_array_equal(got, pipeline.predict(X))


def test_estimator_fitted_on_arrays_takes_arrays() -> None:
    model = LogisticRegression(max_iter=5000).fit(X.to_numpy(), Y)
    got = SklearnPredictor(model).predict_array(X.to_numpy()[:5], COLUMNS)
    np.testing.assert_array_equal(got, model.predict(pd.DataFrame(X).to_numpy()[:5]))
