"""The CT policy file and the pure retrain decision: triggers, cooldown, daily budget."""

from __future__ import annotations

import pytest

from slipway.core.errors import InvalidInput
from slipway.ct.loop import CtState, Fired, decide
from slipway.ct.policy import parse_policy

POLICY = """
apiVersion: slipway.dev/v1
kind: ContinuousTraining
deployment: fraud
model: fraud
pipeline: {name: train, data_param: production_data}
triggers:
  drift: {window: 1h, share_above: 0.5}
  new_labels: {rows: 100}
cooldown: 6h
max_retrains_per_day: 2
"""
DRIFT = Fired("drift", 0.6, 0.5, "dataset drift share")


def test_policy_parses_with_durations() -> None:
    policy = parse_policy("ct.yaml", POLICY)
    assert policy.cooldown == 6 * 3600
    assert policy.triggers.drift is not None
    assert policy.triggers.drift.window == 3600
    assert policy.canary.steps == (0.1, 0.5, 1.0)


def test_canary_checks_and_receivers_parse() -> None:
    text = POLICY + (
        "canary: {steps: [0.5, 1.0], checks: {max_prediction_drift: null}}\n"
        "notify: [{name: ml-team, url: 'http://127.0.0.1:9/hook', secret_env: ML_SECRET}]\n"
    )
    policy = parse_policy("ct.yaml", text)
    assert policy.canary.checks.max_prediction_drift is None
    assert policy.canary.checks.max_error_rate == 0.01  # the rest keep their defaults
    assert [r.name for r in policy.notify] == ["ml-team"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (POLICY.replace("cooldown: 6h", "cooldown: soon"), "ct.yaml: cooldown:"),
        (POLICY.replace("kind: ContinuousTraining", "kind: Other"), "kind ContinuousTraining"),
        (POLICY.replace("rows: 100", "rows: 0"), "triggers.new_labels.rows"),
        (POLICY.replace("model: fraud", "model: fraud\nmodle: x"), "modle"),
        (
            POLICY.replace(
                "  drift: {window: 1h, share_above: 0.5}\n  new_labels: {rows: 100}\n", "  {}\n"
            ),
            "at least one trigger",
        ),
        (
            POLICY.replace("new_labels: {rows: 100}", "performance: {metric: accuracy}"),
            "exactly one of below / above",
        ),
        (POLICY + "notify: [{name: team, url: 'ftp://x'}]\n", "notify.0.url"),
        (POLICY + "canary: {checks: {max_prediction_drift: 2}}\n", "canary.checks"),
    ],
)
def test_bad_policies_name_the_field(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_policy("ct.yaml", text)


def test_decide() -> None:
    policy = parse_policy("ct.yaml", POLICY)
    now = 1_000_000.0
    assert decide(policy, [], CtState(), now).reason == "no trigger fired"
    assert decide(policy, [DRIFT], CtState(), now).retrain
    cooling = decide(policy, [DRIFT], CtState([now - 3600]), now)
    assert not cooling.retrain
    assert "cooldown" in cooling.reason
    assert decide(policy, [DRIFT], CtState([now - 7 * 3600]), now).retrain
    spent = decide(policy, [DRIFT], CtState([now - 20 * 3600, now - 13 * 3600]), now)
    assert not spent.retrain
    assert "daily budget of 2" in spent.reason
    assert decide(policy, [DRIFT], CtState([now - 30 * 3600, now - 13 * 3600]), now).retrain
