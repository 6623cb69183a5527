"""Alert rules: parsing (bad files name the field), evaluation and saved state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from slipway.monitoring.alerts import (
    AlertRule,
    AlertState,
    AlertStatus,
    InvalidAlertRules,
    InvalidAlertState,
    Observation,
    TransitionStatus,
    evaluate,
    load_rules,
    load_state,
    parse_duration,
    parse_rules,
    save_state,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

RULES = """
apiVersion: slipway.dev/v1
kind: AlertRules
rules:
  - name: fraud-dataset-drift
    deployment: fraud
    kind: drift_share
    window: 1h
    above: 0.3
    for: 0s
    severity: warning
    notify: [ops-webhook]
  - {name: fraud-amount-drift, deployment: fraud, kind: feature_drift, feature: amount, above: 0.1}
  - {name: fraud-accuracy, deployment: fraud, kind: performance, metric: accuracy, below: 0.9,
     min_labels: 200}
  - {name: fraud-p99, deployment: fraud, kind: slo, slo: p99_latency_ms, above: 250, for: 10m}
  - {name: fraud-errors, deployment: fraud, kind: slo, slo: error_rate, above: 0.01}
receivers:
  - {name: ops-webhook, url: "http://127.0.0.1:9000/alerts", secret_env: OPS_WEBHOOK_SECRET,
     timeout: 5s}
"""


def rule(**overrides: object) -> AlertRule:
    fields: dict[str, object] = {
        "name": "r",
        "deployment": "fraud",
        "kind": "drift_share",
        "above": 0.3,
    }
    fields.update(overrides)
    return AlertRule.model_validate(fields)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# -- parsing ----------------------------------------------------------------------------------


def test_the_documented_example_parses() -> None:
    parsed = parse_rules("alerts.yaml", RULES)
    assert [r.name for r in parsed.rules] == [
        "fraud-dataset-drift",
        "fraud-amount-drift",
        "fraud-accuracy",
        "fraud-p99",
        "fraud-errors",
    ]
    drift, amount, accuracy, p99, _ = parsed.rules
    assert drift.window == 3600
    assert drift.for_ == 0
    assert drift.notify == ("ops-webhook",)
    assert amount.feature == "amount"
    assert amount.labels["feature"] == "amount"
    assert accuracy.comparison == "<"
    assert accuracy.threshold == 0.9
    assert accuracy.min_labels == 200
    assert p99.for_ == 600
    assert p99.repeat_interval == 4 * 3600
    receiver = parsed.receiver("ops-webhook")
    assert receiver.secret_env == "OPS_WEBHOOK_SECRET"
    assert receiver.timeout == 5.0


def test_load_rules_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(RULES)
    assert len(load_rules(path).rules) == 5
    with pytest.raises(InvalidAlertRules, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("rules: [", "", "not valid YAML"),
        ("- a\n- b\n", "", "must be a YAML mapping"),
        ("apiVersion: v0\nkind: AlertRules\n", "apiVersion", "unsupported"),
        ("apiVersion: slipway.dev/v1\nkind: Deployment\n", "kind", "expected 'AlertRules'"),
        (
            "apiVersion: slipway.dev/v1\nkind: AlertRules\nrules:\n"
            "  - {name: a, deployment: d, kind: drift_share, above: 0.3, treshold: 1}\n",
            "rules[0](a).treshold",
            "Extra inputs are not permitted",
        ),
        (
            "apiVersion: slipway.dev/v1\nkind: AlertRules\nrules:\n"
            "  - {name: a, deployment: d, kind: drift_share, above: 0.3}\n"
            "  - {name: b, deployment: d, kind: slo, slo: p99_latency_ms, above: 1, for: soon}\n",
            "rules[1](b).for",
            "expected a duration",
        ),
        (
            "apiVersion: slipway.dev/v1\nkind: AlertRules\nrules:\n"
            "  - {name: a, deployment: d, kind: feature_drift, above: 0.3}\n",
            "rules[0](a)",
            "needs 'feature'",
        ),
        (
            "apiVersion: slipway.dev/v1\nkind: AlertRules\nrules:\n"
            "  - {name: a, deployment: d, kind: slo, slo: p99_latency_ms}\n",
            "rules[0](a)",
            "exactly one of 'above' or 'below'",
        ),
        (
            "apiVersion: slipway.dev/v1\nkind: AlertRules\nrules:\n"
            "  - {name: a, deployment: d, kind: drift_share, above: 0.3, feature: x}\n",
            "rules[0](a)",
            "'feature' does not apply",
        ),
        (
            "apiVersion: slipway.dev/v1\nkind: AlertRules\nrules:\n"
            "  - {name: a, deployment: d, kind: slo, slo: p95_latency_ms, above: 1}\n",
            "rules[0](a).slo",
            "Input should be",
        ),
        (
            "apiVersion: slipway.dev/v1\nkind: AlertRules\nrules:\n"
            "  - {name: a, deployment: d, kind: drift_share, above: 0.3, notify: [pager]}\n",
            "",
            "unknown receiver(s) pager",
        ),
        (
            "apiVersion: slipway.dev/v1\nkind: AlertRules\nreceivers:\n"
            "  - {name: hook, url: 'ftp://example.com'}\n",
            "receivers[0](hook).url",
            "http:// or https://",
        ),
        (
            "apiVersion: slipway.dev/v1\nkind: AlertRules\nrules:\n"
            "  - {name: a, deployment: d, kind: drift_share, above: 0.3}\n"
            "  - {name: a, deployment: d, kind: drift_share, above: 0.5}\n",
            "",
            "rule name 'a' is used twice",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_field(
    text: str, field: str, reason: str
) -> None:
    with pytest.raises(InvalidAlertRules) as caught:
        parse_rules("alerts/fraud.yaml", text)
    assert caught.value.path == "alerts/fraud.yaml"
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert str(caught.value).startswith("alerts/fraud.yaml: ")


def test_durations() -> None:
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2m") == 120
    assert parse_duration("1d") == 86400
    assert parse_duration(7) == 7
    for bad in ("soon", True, -1):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_the_fingerprint_is_stable_and_tells_rules_apart() -> None:
    assert rule().fingerprint == rule().fingerprint
    assert len(rule().fingerprint) == 64
    assert rule().fingerprint != rule(name="other").fingerprint
    assert rule().fingerprint != rule(severity="critical").fingerprint
    assert rule().fingerprint == rule(above=0.5).fingerprint  # the threshold is not identity


# -- evaluation -------------------------------------------------------------------------------


def test_a_breach_fires_at_once_without_for() -> None:
    r = rule()
    state, transitions = evaluate([r], {"r": Observation(0.5, "6 of 12 drifted")}, T0, AlertState())
    assert [t.status for t in transitions] == [TransitionStatus.FIRING]
    fired = transitions[0]
    assert fired.fingerprint == r.fingerprint
    assert fired.starts_at == T0
    assert fired.ends_at is None
    assert fired.value == 0.5
    assert fired.threshold == 0.3
    assert fired.annotations["value"] == "0.5"
    assert fired.annotations["threshold"] == "> 0.3"
    assert "6 of 12 drifted" in fired.annotations["message"]
    assert state.get("r").status is AlertStatus.FIRING


def test_pending_becomes_firing_only_after_for() -> None:
    r = rule(**{"for": "10m"})
    breach = {"r": Observation(0.5, "")}
    state, transitions = evaluate([r], breach, at(0), AlertState())
    assert transitions == []
    assert state.get("r").status is AlertStatus.PENDING
    state, transitions = evaluate([r], breach, at(9), state)
    assert transitions == []
    assert state.get("r").status is AlertStatus.PENDING
    state, transitions = evaluate([r], breach, at(10), state)
    assert [t.status for t in transitions] == [TransitionStatus.FIRING]
    assert transitions[0].starts_at == at(10)


def test_a_pending_rule_that_recovers_never_fires() -> None:
    r = rule(**{"for": "10m"})
    state, _ = evaluate([r], {"r": Observation(0.5)}, at(0), AlertState())
    state, transitions = evaluate([r], {"r": Observation(0.1)}, at(5), state)
    assert transitions == []
    assert state.get("r").status is AlertStatus.INACTIVE
    state, transitions = evaluate([r], {"r": Observation(0.5)}, at(11), state)
    assert transitions == []
    assert state.get("r").status is AlertStatus.PENDING


def test_no_data_never_fires() -> None:
    r = rule()
    state = AlertState()
    for minute, observations in enumerate(
        [{}, {"r": Observation(None, "no traffic")}, {"other": Observation(9.0)}]
    ):
        state, transitions = evaluate([r], observations, at(minute), state)
        assert transitions == []
        assert state.get("r").status is AlertStatus.INACTIVE


def test_no_data_resets_pending_and_keeps_firing_silent() -> None:
    slow = rule(name="slow", **{"for": "10m"})
    fast = rule(name="fast")
    breach = {"slow": Observation(0.5), "fast": Observation(0.5)}
    state, transitions = evaluate([slow, fast], breach, at(0), AlertState())
    assert [t.rule for t in transitions] == ["fast"]
    state, transitions = evaluate([slow, fast], {}, at(20), state)
    assert transitions == []
    assert state.get("slow").status is AlertStatus.INACTIVE
    assert state.get("fast").status is AlertStatus.FIRING  # a gap in data is not a recovery


def test_too_few_labels_is_no_data() -> None:
    r = rule(kind="performance", metric="accuracy", above=None, below=0.9, min_labels=200)
    state, transitions = evaluate([r], {"r": Observation(0.5, samples=199)}, T0, AlertState())
    assert transitions == []
    assert state.get("r").status is AlertStatus.INACTIVE
    state, transitions = evaluate([r], {"r": Observation(0.5)}, T0, AlertState())
    assert transitions == []  # samples unknown: not enough either
    state, transitions = evaluate([r], {"r": Observation(0.5, samples=200)}, T0, AlertState())
    assert [t.status for t in transitions] == [TransitionStatus.FIRING]
    assert transitions[0].annotations["threshold"] == "< 0.9"


def test_still_firing_is_not_notified_again() -> None:
    r = rule()
    state, transitions = evaluate([r], {"r": Observation(0.5)}, at(0), AlertState())
    assert len(transitions) == 1
    for minute in range(1, 120):
        state, transitions = evaluate(
            [r], {"r": Observation(0.4 + minute / 1000)}, at(minute), state
        )
        assert transitions == []
    assert state.get("r").value == pytest.approx(0.519)


def test_resolution_is_notified_once() -> None:
    r = rule()
    state, _ = evaluate([r], {"r": Observation(0.5)}, at(0), AlertState())
    state, transitions = evaluate([r], {"r": Observation(0.1)}, at(30), state)
    assert [t.status for t in transitions] == [TransitionStatus.RESOLVED]
    resolved = transitions[0]
    assert resolved.starts_at == at(0)
    assert resolved.ends_at == at(30)
    assert resolved.fingerprint == r.fingerprint
    assert resolved.value == 0.1
    state, transitions = evaluate([r], {"r": Observation(0.1)}, at(31), state)
    assert transitions == []
    assert state.get("r").status is AlertStatus.INACTIVE
    # a new episode fires again, with a new idempotency key
    state, again = evaluate([r], {"r": Observation(0.5)}, at(40), state)
    assert [t.status for t in again] == [TransitionStatus.FIRING]
    assert again[0].idempotency_key != resolved.idempotency_key


def test_the_threshold_itself_is_not_a_breach() -> None:
    _, transitions = evaluate([rule()], {"r": Observation(0.3)}, T0, AlertState())
    assert transitions == []


def test_repeat_interval() -> None:
    r = rule(repeat_interval="1h")
    breach = {"r": Observation(0.5)}
    state, first = evaluate([r], breach, at(0), AlertState())
    state, none = evaluate([r], breach, at(59), state)
    state, repeat = evaluate([r], breach, at(60), state)
    assert none == []
    assert [t.status for t in repeat] == [TransitionStatus.FIRING]
    assert repeat[0].starts_at == at(0)
    assert repeat[0].sequence == 2
    assert repeat[0].idempotency_key != first[0].idempotency_key
    state, none = evaluate([r], breach, at(119), state)
    state, third = evaluate([r], breach, at(120), state)
    assert none == []
    assert third[0].sequence == 3


def test_repeat_interval_zero_never_repeats() -> None:
    r = rule(repeat_interval=0)
    state, _ = evaluate([r], {"r": Observation(0.5)}, at(0), AlertState())
    _, transitions = evaluate([r], {"r": Observation(0.5)}, at(60 * 24 * 7), state)
    assert transitions == []


def test_removed_rules_leave_the_state() -> None:
    state, _ = evaluate([rule()], {"r": Observation(0.5)}, T0, AlertState())
    state, transitions = evaluate([rule(name="s")], {}, at(1), state)
    assert transitions == []
    assert list(state.rules) == ["s"]


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="naive"):
        evaluate([rule()], {}, datetime(2026, 1, 1), AlertState())


# -- persistence ------------------------------------------------------------------------------


def test_state_round_trips_so_a_restart_does_not_renotify(tmp_path: Path) -> None:
    path = tmp_path / "state" / "alerts.json"
    assert load_state(path) == AlertState()
    slow, fast = rule(name="slow", **{"for": "1h"}), rule(name="fast")
    breach = {"slow": Observation(0.5), "fast": Observation(0.5)}
    state, transitions = evaluate([slow, fast], breach, at(0), AlertState())
    assert len(transitions) == 1
    save_state(path, state)
    assert list(path.parent.iterdir()) == [path]  # no temporary left behind
    restored = load_state(path)
    assert restored == state
    assert restored.get("slow").since == at(0)
    _, transitions = evaluate([slow, fast], breach, at(1), restored)
    assert transitions == []
    assert restored.firing() == ["fast"]


def test_a_corrupt_state_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_text("{not json")
    with pytest.raises(InvalidAlertState, match=str(path)):
        load_state(path)
    path.write_text('{"version": 99, "rules": {}}')
    with pytest.raises(InvalidAlertState, match="unsupported version"):
        load_state(path)
