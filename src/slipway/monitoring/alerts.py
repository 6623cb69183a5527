"""Alert rules on a deployment's health, their evaluation and the state kept between looks.

Rules live in a versioned YAML file (``kind: AlertRules``). Every model forbids unknown fields,
so a typo is an error naming the file and the field, never a silently ignored setting.

Evaluation is a pure function: the agent computes one :class:`Observation` per rule (from the
drift, performance and metrics it measured), :func:`evaluate` compares them with the rules and
the previous :class:`AlertState` and returns the next state and the :class:`Transition` to
notify. A rule is ``inactive``, ``pending`` (breached, waiting for ``for``) or ``firing``.
Only two things are ever notified: an alert starting to fire (and, while it keeps firing,
again every ``repeat_interval``) and an alert resolving, once. No data never fires.

The state is saved as JSON with an atomic replace (:func:`save_state`) so that an agent that
restarts neither forgets a firing alert nor notifies it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from slipway.core.errors import InvalidInput
from slipway.core.names import check_name

API_VERSION = "slipway.dev/v1"
KIND = "AlertRules"
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0
STATE_VERSION = 1
_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

RuleKind = Literal["drift_share", "feature_drift", "performance", "slo"]
Severity = Literal["info", "warning", "critical"]
SloName = Literal["error_rate", "p50_latency_ms", "p99_latency_ms", "throughput_rps"]


class InvalidAlertRules(InvalidInput):
    """An alert rules file that cannot be used; names the file, the field and why."""

    def __init__(self, path: str, field: str, reason: str) -> None:
        self.path, self.field, self.reason = path, field, reason
        where = f"{path}: {field}: " if field else f"{path}: "
        super().__init__(where + reason)


class InvalidAlertState(InvalidInput):
    """A saved alert state that cannot be read (corrupted or from another version)."""


def parse_duration(value: object) -> float:
    """Seconds from ``30``, ``30s``, ``500ms``, ``5m``, ``1h`` or ``1d``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s or 5m, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).strip())
        if match is None:
            raise ValueError(f"expected a duration such as 30s or 5m, got {value!r}")
        seconds = float(match["n"]) * _UNITS[match["unit"]]
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# Which extra field each kind needs; the others must be absent (a feature on an SLO rule is
# a mistake worth reporting, not a setting to ignore).
_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "drift_share": (),
    "feature_drift": ("feature",),
    "performance": ("metric",),
    "slo": ("slo",),
}
_OPTIONAL_FIELDS = ("feature", "metric", "slo", "min_labels")


class AlertRule(_Strict):
    """One condition on one deployment: ``value > above`` or ``value < below``."""

    name: str
    deployment: str
    kind: RuleKind
    window: float = Field(default=3600.0, gt=0, description="Window the value is computed on.")
    above: float | None = Field(default=None, description="Breached when the value is above.")
    below: float | None = Field(default=None, description="Breached when the value is below.")
    for_: float = Field(
        default=0.0, alias="for", description="How long the breach must hold before firing."
    )
    severity: Severity = "warning"
    notify: tuple[str, ...] = Field(default=(), description="Receiver names.")
    repeat_interval: float = Field(
        default=DEFAULT_REPEAT_INTERVAL,
        description="Notify a still-firing alert again after this long; 0: never repeat.",
    )
    feature: str | None = Field(default=None, description="feature_drift: the feature.")
    metric: str | None = Field(default=None, description="performance: e.g. accuracy.")
    min_labels: int | None = Field(
        default=None, ge=1, description="performance: labelled rows needed to evaluate."
    )
    slo: SloName | None = Field(default=None, description="slo: which objective.")

    @field_validator("name", "deployment")
    @classmethod
    def _names(cls, value: str) -> str:
        try:
            return check_name("rule", value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    @field_validator("window", "for_", "repeat_interval", mode="before")
    @classmethod
    def _durations(cls, value: object) -> float:
        return parse_duration(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' or 'below'")
        needed = _KIND_FIELDS[self.kind]
        for name in needed:
            if getattr(self, name) is None:
                raise ValueError(f"kind {self.kind} needs '{name}'")
        allowed = (*needed, "min_labels") if self.kind == "performance" else needed
        for name in _OPTIONAL_FIELDS:
            if name not in allowed and getattr(self, name) is not None:
                raise ValueError(f"'{name}' does not apply to kind {self.kind}")
        return self

    @property
    def threshold(self) -> float:
        """The bound the value is compared with."""
        if self.above is not None:
            return self.above
        assert self.below is not None  # the validator allows exactly one
        return self.below

    @property
    def comparison(self) -> Literal[">", "<"]:
        return ">" if self.above is not None else "<"

    def breached(self, value: float) -> bool:
        """Whether ``value`` is on the wrong side of the threshold (equal is fine)."""
        return value > self.threshold if self.comparison == ">" else value < self.threshold

    @property
    def labels(self) -> dict[str, str]:
        """The alert's identity: what receivers group and de-duplicate on."""
        labels = {
            "alertname": self.name,
            "deployment": self.deployment,
            "kind": self.kind,
            "severity": self.severity,
        }
        for name in ("feature", "metric", "slo"):
            value = getattr(self, name)
            if value is not None:
                labels[name] = str(value)
        return labels

    @property
    def fingerprint(self) -> str:
        """sha256 of the rule name and labels: stable across restarts and machines."""
        return fingerprint(self.name, self.labels)

    def describe(self) -> str:
        """The measured quantity in words, e.g. ``p99_latency_ms of fraud``."""
        what = {
            "drift_share": "share of drifted features",
            "feature_drift": f"drift of feature {self.feature}",
            "performance": f"{self.metric}",
            "slo": f"{self.slo}",
        }[self.kind]
        return f"{what} of {self.deployment}"


class Receiver(_Strict):
    """A webhook alerts are posted to."""

    name: str
    url: str
    secret_env: str | None = Field(
        default=None,
        description="Environment variable holding the HMAC secret; unset: unsigned.",
    )
    timeout: float = Field(default=5.0, gt=0, description="Per-request timeout.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return check_name("receiver", value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not _URL.match(value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("secret_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV.match(value):
            raise ValueError("must be an environment variable name such as OPS_WEBHOOK_SECRET")
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: object) -> float:
        return parse_duration(value)


class AlertRulesFile(_Strict):
    """A whole ``kind: AlertRules`` file."""

    api_version: Literal["slipway.dev/v1"] = Field("slipway.dev/v1", alias="apiVersion")
    kind: Literal["AlertRules"] = "AlertRules"
    rules: tuple[AlertRule, ...] = ()
    receivers: tuple[Receiver, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> Self:
        for what, names in (
            ("rule", [r.name for r in self.rules]),
            ("receiver", [r.name for r in self.receivers]),
        ):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"{what} name {name!r} is used twice")
                seen.add(name)
        known = {r.name for r in self.receivers}
        for rule in self.rules:
            missing = [name for name in rule.notify if name not in known]
            if missing:
                raise ValueError(
                    f"rule {rule.name!r} notifies unknown receiver(s) {', '.join(missing)}"
                )
        return self

    def receiver(self, name: str) -> Receiver:
        """The receiver called ``name``; KeyError when there is none."""
        for receiver in self.receivers:
            if receiver.name == name:
                return receiver
        raise KeyError(name)


def parse_rules(path: str, text: str | bytes) -> AlertRulesFile:
    """Parse an alert rules file; any problem is an :class:`InvalidAlertRules`."""
    try:
        doc: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidAlertRules(path, "", f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidAlertRules(path, "", "must be a YAML mapping with apiVersion, kind, rules")
    version = doc.get("apiVersion")
    if version != API_VERSION:
        raise InvalidAlertRules(
            path, "apiVersion", f"unsupported {version!r}; this Slipway reads {API_VERSION!r}"
        )
    if doc.get("kind") != KIND:
        raise InvalidAlertRules(path, "kind", f"expected {KIND!r}, got {doc.get('kind')!r}")
    try:
        return AlertRulesFile.model_validate(doc)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = _field_path(doc, error["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = error["msg"].removeprefix("Value error, ")
        raise InvalidAlertRules(path, field, f"{message}{more}") from None


def load_rules(path: Path) -> AlertRulesFile:
    """Read and parse an alert rules file from disk."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InvalidAlertRules(str(path), "", f"cannot read: {exc.strerror}") from None
    return parse_rules(str(path), text)


def _field_path(doc: Any, loc: tuple[int | str, ...]) -> str:
    """``rules[1](fraud-p99).above``: the index plus, where known, the rule's name."""
    parts: list[str] = []
    node: Any = doc
    for part in loc:
        if isinstance(part, int):
            label = f"[{part}]"
            item = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                label += f"({item['name']})"
            parts.append(label)
            node = item
        else:
            name = "for" if part == "for_" else part
            parts.append(("." if parts else "") + name)
            node = node.get(name) if isinstance(node, dict) else None
    return "".join(parts)


def fingerprint(name: str, labels: Mapping[str, str]) -> str:
    """sha256 hex of a rule name and its labels, in a canonical (sorted) encoding."""
    canonical = json.dumps([name, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# -- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    """The current value of one rule's quantity, as the agent measured it."""

    value: float | None
    """None: no data (nothing served, no labels yet…); the rule is then not evaluated."""
    detail: str = ""
    """Human context for the message, e.g. ``4 of 12 features drifted``."""
    samples: int | None = None
    """How many rows the value rests on; checked against a rule's ``min_labels``."""


class AlertStatus(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


class TransitionStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class RuleState:
    """Where one rule stands between evaluations."""

    status: AlertStatus = AlertStatus.INACTIVE
    since: datetime | None = None
    """pending: when the breach was first seen; firing: when it started firing."""
    last_notified: datetime | None = None
    """firing: when the last FIRING notification was emitted."""
    notifications: int = 0
    """firing: FIRING notifications emitted in this episode (1, then +1 per repeat)."""
    value: float | None = None
    """The last value evaluated."""


@dataclass(frozen=True, slots=True)
class AlertState:
    """Every rule's :class:`RuleState`, by rule name."""

    rules: Mapping[str, RuleState] = field(default_factory=dict)

    def get(self, name: str) -> RuleState:
        """The rule's state; inactive when it was never seen."""
        return self.rules.get(name, RuleState())

    def firing(self) -> list[str]:
        """Names of the rules firing now, sorted."""
        return sorted(n for n, s in self.rules.items() if s.status is AlertStatus.FIRING)


@dataclass(frozen=True, slots=True)
class Transition:
    """Something to notify: an alert starting (or still) firing, or resolved."""

    status: TransitionStatus
    rule: str
    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    receivers: tuple[str, ...]
    value: float
    threshold: float
    starts_at: datetime
    ends_at: datetime | None
    """None while firing."""
    sequence: int = 1
    """FIRING: 1 for the first notification of an episode, 2… for repeats; RESOLVED: 1."""

    @property
    def idempotency_key(self) -> str:
        """Same for every retry of one notification, different for the next one."""
        episode = int(self.starts_at.timestamp())
        return f"{self.fingerprint}:{self.status.value}:{episode}:{self.sequence}"


def evaluate(
    rules: Sequence[AlertRule],
    observations: Mapping[str, Observation],
    now: datetime,
    state: AlertState,
) -> tuple[AlertState, list[Transition]]:
    """The next state and the transitions to notify, from this look's observations.

    ``observations`` is keyed by rule name. Per rule: no observation, a None value or fewer
    samples than ``min_labels`` is *no data*: a pending rule goes back to inactive (``for``
    needs continuous evidence) and a firing one stays firing without a notification (a gap in
    data is not a recovery). A breach makes an inactive rule pending, and a pending rule firing
    once it has held for ``for`` (at once when ``for`` is 0): one FIRING transition. While it
    keeps firing, another FIRING every ``repeat_interval`` (never when 0). A firing rule whose
    value is back within bounds resolves: one RESOLVED transition. Rules no longer listed are
    dropped from the state. ``now`` must be timezone-aware.
    """
    if now.tzinfo is None:
        raise ValueError("now is a naive datetime; pass an aware one")
    next_rules: dict[str, RuleState] = {}
    transitions: list[Transition] = []
    for rule in rules:
        previous = state.get(rule.name)
        current, transition = _step(rule, observations.get(rule.name), now, previous)
        next_rules[rule.name] = current
        if transition is not None:
            transitions.append(transition)
    return AlertState(next_rules), transitions


def _step(
    rule: AlertRule, observation: Observation | None, now: datetime, previous: RuleState
) -> tuple[RuleState, Transition | None]:
    value = None if observation is None else observation.value
    too_few = rule.min_labels is not None and (
        observation is None or (observation.samples or 0) < rule.min_labels
    )
    if too_few:
        value = None
    if value is None:
        if previous.status is AlertStatus.PENDING:
            return RuleState(), None
        return previous, None
    detail = "" if observation is None else observation.detail
    status = previous.status
    if not rule.breached(value):
        if status is AlertStatus.FIRING:
            assert previous.since is not None
            resolved = _transition(rule, TransitionStatus.RESOLVED, value, detail, previous.since)
            return RuleState(value=value), replace(resolved, ends_at=now)
        return RuleState(value=value), None
    if status is AlertStatus.INACTIVE:
        previous = RuleState(AlertStatus.PENDING, since=now, value=value)
        status = AlertStatus.PENDING
    if status is AlertStatus.PENDING:
        assert previous.since is not None
        if now - previous.since < timedelta(seconds=rule.for_):
            return replace(previous, value=value), None
        firing = RuleState(AlertStatus.FIRING, since=now, last_notified=now, notifications=1)
        return replace(firing, value=value), _transition(
            rule, TransitionStatus.FIRING, value, detail, now
        )
    # still firing: repeat only after the interval
    assert previous.since is not None
    assert previous.last_notified is not None
    due = rule.repeat_interval > 0 and now - previous.last_notified >= timedelta(
        seconds=rule.repeat_interval
    )
    if not due:
        return replace(previous, value=value), None
    sequence = previous.notifications + 1
    current = replace(previous, last_notified=now, notifications=sequence, value=value)
    repeat = _transition(rule, TransitionStatus.FIRING, value, detail, previous.since)
    return current, replace(repeat, sequence=sequence)


def _transition(
    rule: AlertRule, status: TransitionStatus, value: float, detail: str, starts_at: datetime
) -> Transition:
    bound = "above" if rule.comparison == ">" else "below"
    if status is TransitionStatus.FIRING:
        message = f"{rule.describe()} is {value:g}, {bound} the threshold {rule.threshold:g}"
    else:
        message = f"{rule.describe()} is back to {value:g} (threshold {bound} {rule.threshold:g})"
    annotations = {
        "summary": f"{rule.name} {status.value}",
        "message": message + (f": {detail}" if detail else ""),
        "value": f"{value:g}",
        "threshold": f"{rule.comparison} {rule.threshold:g}",
        "window": f"{rule.window:g}s",
    }
    if detail:
        annotations["detail"] = detail
    return Transition(
        status=status,
        rule=rule.name,
        fingerprint=rule.fingerprint,
        labels=rule.labels,
        annotations=annotations,
        receivers=rule.notify,
        value=value,
        threshold=rule.threshold,
        starts_at=starts_at,
        ends_at=None,
    )


# -- persistence ------------------------------------------------------------------------------


def state_to_json(state: AlertState) -> str:
    """Canonical JSON of a state (sorted keys, ISO 8601 times)."""
    rules = {
        name: {
            "status": s.status.value,
            "since": _iso(s.since),
            "last_notified": _iso(s.last_notified),
            "notifications": s.notifications,
            "value": s.value,
        }
        for name, s in sorted(state.rules.items())
    }
    return json.dumps({"version": STATE_VERSION, "rules": rules}, indent=2, sort_keys=True)


def state_from_json(text: str | bytes, source: str = "alert state") -> AlertState:
    """The state :func:`state_to_json` wrote; :class:`InvalidAlertState` when it cannot be."""
    try:
        doc = json.loads(text)
        if doc.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported version {doc.get('version')!r}")
        rules = {
            str(name): RuleState(
                status=AlertStatus(entry["status"]),
                since=_parse_time(entry.get("since")),
                last_notified=_parse_time(entry.get("last_notified")),
                notifications=int(entry.get("notifications", 0)),
                value=None if entry.get("value") is None else float(entry["value"]),
            )
            for name, entry in doc["rules"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidAlertState(f"{source}: cannot read alert state: {exc}") from None
    return AlertState(rules)


def save_state(path: Path, state: AlertState) -> None:
    """Write the state atomically: a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(state_to_json(state))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_state(path: Path) -> AlertState:
    """The saved state; an empty one (everything inactive) when the file does not exist."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return AlertState()
    return state_from_json(text, str(path))


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat()


def _parse_time(value: object) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no timezone")
    return parsed
