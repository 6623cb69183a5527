"""Kubernetes manifests for one deployment, rendered as plain dicts and canonical YAML.

Pure functions only: a :class:`~slipway.deploy.spec.DeploymentFile` plus the routing state
(champion, optional challenger, weight, mode) in, objects and file contents out. Nothing here
reads or writes a repository or contacts a cluster; :mod:`slipway.deploy.kubernetes` does the
bookkeeping and Argo CD or Flux apply what lands in the GitOps repository.

**The traffic split is a replica ratio.** A Kubernetes ``Service`` spreads connections evenly
over the ready pods it selects, so a canary is a second ``Deployment`` (``<name>-canary``)
serving the challenger beside the stable one, both selected by the one Service. The canary
gets ``ceil(weight * replicas)`` pods (at least 1) and the stable one the rest (at least 1):
the share a challenger really gets is ``canary / (canary + stable)``, which is the declared
weight rounded to whole pods. A challenger loaded at weight 0 runs with its pods labelled
``slipway.dev/serving: "false"`` so that the Service leaves it out until a weight is set. Shadow
mode cannot be a replica ratio (a copy of each request must go to both), so the stable pods
load the challenger in-process (``slipway serve --challenger ... --mode shadow``).

The automated canary analysis compares the two versions' Prometheus metrics, so the pods are
annotated for scraping (``prometheus.io/scrape``, port 8080, ``/metrics``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from slipway.core.errors import InvalidInput
from slipway.deploy.spec import DeploymentFile, ModelPin
from slipway.deploy.target import RoutingMode, runtime_config
from slipway.serving.settings import check_weight

Manifest = dict[str, Any]

ROOT = "deploy/kubernetes"
GITOPS_DIR = "_gitops"
PORT = 8080
CANARY_SUFFIX = "-canary"
HPA_MAX_FACTOR = 4
"""The autoscaler may grow the stable Deployment to this many times ``spec.replicas``."""
CPU_TARGET_PERCENT = 70
UID = 10001
"""The serving image's non-root user (see :func:`slipway.deploy.kubernetes.render_dockerfile`)."""
STORE_SECRET = "slipway-store"  # noqa: S105 - the Secret's name, not a secret
"""Optional Secret whose keys (``SLIPWAY_TRACKING_URI``, ``SLIPWAY_ARTIFACT_URI``, cloud
credentials) become the pods' environment, so the servers can fetch the model version."""

# Annotation and label keys, read back by observe().
A_CHAMPION = "slipway.dev/champion"
A_CHALLENGER = "slipway.dev/challenger"
A_WEIGHT = "slipway.dev/weight"
A_MODE = "slipway.dev/mode"
A_DIGEST = "slipway.dev/digest"
A_CHALLENGER_DIGEST = "slipway.dev/challenger-digest"
A_CONFIG = "slipway.dev/config"
A_REPLICAS = "slipway.dev/replicas"
A_SPEC = "slipway.dev/spec"
L_DEPLOYMENT = "slipway.dev/deployment"
L_TRACK = "slipway.dev/track"
L_SERVING = "slipway.dev/serving"

# A Service name is an RFC 1035 label (63 at most); "-canary" must still fit after it.
_OBJECT_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_MAX_NAME = 63 - len(CANARY_SUFFIX)
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@dataclass(frozen=True, slots=True)
class Routing:
    """Which versions serve a deployment and how requests are shared between them."""

    champion: ModelPin
    challenger: ModelPin | None = None
    weight: float = 0.0
    mode: RoutingMode = "canary"


def deployment_dir(environment: str, name: str) -> str:
    """Repository folder of one deployment's manifests (ends with ``/``)."""
    return f"{environment_dir(environment)}{name}/"


def environment_dir(environment: str) -> str:
    """Repository folder Argo CD or Flux syncs for one environment (ends with ``/``)."""
    return f"{ROOT}/{environment}/"


def split_replicas(replicas: int, weight: float) -> tuple[int, int]:
    """``(stable, canary)`` pod counts for ``weight`` of traffic to the canary.

    The canary gets ``ceil(weight * replicas)`` pods but at least one, so a challenger is
    always running; the stable Deployment keeps the rest and at least one, so the champion is
    never scaled away before promotion.
    """
    canary = max(1, math.ceil(round(weight * replicas, 9)))
    return max(1, replicas - canary), canary


def check_names(deployment: DeploymentFile, routing: Routing) -> None:
    """Raise :class:`InvalidInput` for names Kubernetes would reject (Slipway's are laxer)."""
    name = deployment.name
    if not _OBJECT_NAME.match(name) or len(name) > _MAX_NAME:
        raise InvalidInput(
            f"deployment name {name!r} cannot name Kubernetes objects: use at most "
            f"{_MAX_NAME} lowercase letters, digits and '-', starting with a letter"
        )
    env = deployment.environment
    if not _NAMESPACE.match(env) or len(env) > 63 - len("slipway-"):
        raise InvalidInput(
            f"environment {env!r} cannot name Kubernetes objects: use lowercase letters, "
            "digits and '-'"
        )
    namespace = deployment.spec.target.namespace
    if not _NAMESPACE.match(namespace) or len(namespace) > 63:
        raise InvalidInput(f"namespace {namespace!r} is not a valid Kubernetes namespace")
    for pin in (routing.champion, routing.challenger):
        if pin is not None and (len(pin.name) > 63 or not _LABEL_VALUE.match(pin.name)):
            raise InvalidInput(
                f"model name {pin.name!r} cannot be a Kubernetes label value: at most 63 "
                "characters, starting and ending with a letter or digit"
            )


def render_objects(deployment: DeploymentFile, routing: Routing) -> dict[str, Manifest]:
    """Every object of one deployment, keyed by its file name in the deployment's folder."""
    check_names(deployment, routing)
    weight = check_weight(routing.weight)
    spec = deployment.spec
    canary = routing.challenger is not None and routing.mode == "canary"
    stable_replicas, canary_replicas = (
        split_replicas(spec.replicas, weight) if canary else (spec.replicas, 0)
    )
    files: dict[str, Manifest] = {
        "configmap.yaml": _config_map(deployment),
        "deployment.yaml": _deployment(deployment, routing, stable_replicas),
        "hpa.yaml": _autoscaler(deployment, stable_replicas),
        "pdb.yaml": _disruption_budget(deployment),
        "service.yaml": _service(deployment),
    }
    if canary:
        assert routing.challenger is not None  # narrowed by `canary`
        files["deployment-canary.yaml"] = _canary(deployment, routing, canary_replicas)
    files["kustomization.yaml"] = kustomization(sorted(files))
    return dict(sorted(files.items()))


def kustomization(resources: list[str]) -> Manifest:
    """A kustomize ``Kustomization`` listing files or folders (what Argo CD and Flux build)."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }


def gitops_objects(environment: str, repo_url: str, branch: str) -> dict[str, Manifest]:
    """The Argo CD ``Application`` and the Flux ``GitRepository`` + ``Kustomization`` that
    make a cluster follow ``deploy/kubernetes/<environment>/`` of the repository.

    Applied once by hand (only the one for the tool in use); from then on every commit is
    synced. They are not listed in the environment's kustomization, so the sync never applies
    (or prunes) them itself.
    """
    name = f"slipway-{environment}"
    path = environment_dir(environment).rstrip("/")
    return {
        "argocd-application.yaml": {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {"repoURL": repo_url, "targetRevision": branch, "path": path},
                # Every object carries its own namespace, so only the cluster is named.
                "destination": {"server": "https://kubernetes.default.svc"},
                "syncPolicy": {
                    "automated": {"prune": True, "selfHeal": True},
                    # Remove a canary only after the promoted stable pods are healthy.
                    "syncOptions": ["PruneLast=true"],
                },
                # The autoscaler owns the live replica count between commits; without this
                # self-heal would scale the champion back down on every scale-up.
                "ignoreDifferences": [
                    {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
                ],
            },
        },
        "flux-gitrepository.yaml": {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"interval": "1m", "url": repo_url, "ref": {"branch": branch}},
        },
        "flux-kustomization.yaml": {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {
                "interval": "5m",
                "path": f"./{path}",
                "prune": True,
                "wait": True,
                "timeout": "5m",
                "sourceRef": {"kind": "GitRepository", "name": name},
            },
        },
    }


def to_yaml(obj: Mapping[str, Any]) -> bytes:
    """Canonical YAML: same object, same bytes, so a commit shows only real changes."""
    # Dicts are built in a fixed order (apiVersion, kind, metadata, spec as kubectl shows
    # them); sort_keys would scatter that. A wide line keeps the JSON annotation on one line.
    text = yaml.safe_dump(dict(obj), sort_keys=False, default_flow_style=False, width=4096)
    return text.encode()


def read_routing(manifest: Mapping[str, Any]) -> tuple[DeploymentFile, Routing]:
    """The desired state and routing recorded in a rendered stable ``Deployment``."""
    notes: Mapping[str, str] = manifest["metadata"]["annotations"]
    deployment = DeploymentFile.model_validate(json.loads(notes[A_SPEC]))
    champion = _pin(notes[A_CHAMPION], notes[A_DIGEST])
    challenger = None
    if A_CHALLENGER in notes:
        challenger = _pin(notes[A_CHALLENGER], notes[A_CHALLENGER_DIGEST])
    mode: RoutingMode = "shadow" if notes.get(A_MODE) == "shadow" else "canary"
    return deployment, Routing(champion, challenger, float(notes.get(A_WEIGHT, "0")), mode)


def _pin(uri: str, digest: str) -> ModelPin:
    name, _, version = uri.removeprefix("models:/").rpartition("/")
    return ModelPin(name=name, version=int(version), digest=digest)


def _metadata(deployment: DeploymentFile, name: str | None = None) -> Manifest:
    return {
        "name": name or deployment.name,
        "namespace": deployment.spec.target.namespace,
        "labels": _labels(deployment),
    }


def _labels(deployment: DeploymentFile) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": deployment.name,
        "app.kubernetes.io/managed-by": "slipway",
        L_DEPLOYMENT: deployment.name,
    }


def _config_map(deployment: DeploymentFile) -> Manifest:
    batching = deployment.spec.batching
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(deployment),
        # ServeSettings reads these; CLI flags would hide them from `kubectl describe`.
        "data": {
            "SLIPWAY_SERVE_HOST": "0.0.0.0",  # noqa: S104 - the pod's port is the boundary
            "SLIPWAY_SERVE_PORT": str(PORT),
            "SLIPWAY_SERVE_DEPLOYMENT": deployment.name,
            "SLIPWAY_SERVE_MAX_BATCH_SIZE": str(batching.max_batch_size),
            "SLIPWAY_SERVE_MAX_LATENCY_MS": repr(float(batching.max_latency_ms)),
        },
    }


def _deployment(deployment: DeploymentFile, routing: Routing, replicas: int) -> Manifest:
    notes = {
        A_CHAMPION: routing.champion.uri,
        A_DIGEST: routing.champion.digest,
        A_WEIGHT: repr(float(routing.weight)),
        A_MODE: routing.mode,
        A_REPLICAS: str(deployment.spec.replicas),
        A_CONFIG: runtime_config(deployment),
        A_SPEC: json.dumps(
            deployment.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":")
        ),
    }
    args = [routing.champion.uri]
    if routing.challenger is not None:
        notes[A_CHALLENGER] = routing.challenger.uri
        notes[A_CHALLENGER_DIGEST] = routing.challenger.digest
        if routing.mode == "shadow":
            args += ["--challenger", routing.challenger.uri, "--weight", repr(routing.weight)]
            args += ["--mode", "shadow"]
    return _workload(
        deployment,
        name=deployment.name,
        track="stable",
        model=routing.champion,
        replicas=replicas,
        args=args,
        annotations=dict(sorted(notes.items())),
        serving=True,
    )


def _canary(deployment: DeploymentFile, routing: Routing, replicas: int) -> Manifest:
    assert routing.challenger is not None
    notes = {
        A_CHALLENGER: routing.challenger.uri,
        A_DIGEST: routing.challenger.digest,
        A_WEIGHT: repr(float(routing.weight)),
    }
    return _workload(
        deployment,
        name=deployment.name + CANARY_SUFFIX,
        track="canary",
        model=routing.challenger,
        replicas=replicas,
        args=[routing.challenger.uri],
        annotations=dict(sorted(notes.items())),
        serving=routing.weight > 0,
    )


def _workload(
    deployment: DeploymentFile,
    *,
    name: str,
    track: str,
    model: ModelPin,
    replicas: int,
    args: list[str],
    annotations: dict[str, str],
    serving: bool,
) -> Manifest:
    # The selector is immutable once applied, so it holds only what never changes for this
    # Deployment; model and version live in the other labels and change with each rollout.
    selector = {L_DEPLOYMENT: deployment.name, L_TRACK: track}
    labels = {
        **_labels(deployment),
        L_TRACK: track,
        "slipway.dev/model": model.name,
        "slipway.dev/version": str(model.version),
    }
    pod_labels = {**labels, L_SERVING: "true" if serving else "false"}
    metadata = _metadata(deployment, name)
    metadata["labels"] = labels
    metadata["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            # A new pod must be ready before an old one goes: capacity never drops.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PORT),
                        "prometheus.io/path": "/metrics",
                        # ConfigMap edits do not restart pods; a changed digest here does.
                        A_CONFIG: runtime_config(deployment),
                        A_DIGEST: model.digest,
                    },
                },
                "spec": _pod_spec(deployment, args),
            },
        },
    }


def _pod_spec(deployment: DeploymentFile, args: list[str]) -> Manifest:
    spec = deployment.spec
    requests = {"cpu": spec.resources.cpu, "memory": spec.resources.memory}
    limits = {"memory": spec.resources.memory}
    if spec.resources.cpu_limit is not None:
        limits["cpu"] = spec.resources.cpu_limit
    return {
        # Longer than the server's own drain timeout (30 s) so in-flight requests finish.
        "terminationGracePeriodSeconds": 45,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "serve",
                "image": spec.target.image,
                "command": ["slipway", "serve"],
                "args": args,
                "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                "envFrom": [
                    {"configMapRef": {"name": deployment.name}},
                    {"secretRef": {"name": STORE_SECRET, "optional": True}},
                ],
                "resources": {"requests": requests, "limits": limits},
                # Loading and warming a model can take a while; liveness waits for startup.
                "startupProbe": _probe("/v2/health/live", period=5, failures=60),
                # Ready only once the model is loaded, verified and warmed up: the Service
                # sends nothing to a pod before, and a rollout does not go on without it.
                "readinessProbe": _probe("/v2/health/ready", period=5, failures=3),
                "livenessProbe": _probe("/v2/health/live", period=10, failures=3),
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    }


def _probe(path: str, *, period: int, failures: int) -> Manifest:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _service(deployment: DeploymentFile) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(deployment),
        "spec": {
            "type": "ClusterIP",
            # Both tracks: the pod counts are the traffic split.
            "selector": {L_DEPLOYMENT: deployment.name, L_SERVING: "true"},
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _autoscaler(deployment: DeploymentFile, stable_replicas: int) -> Manifest:
    # Only the champion autoscales: extra load then lowers the challenger's share below the
    # declared weight, never above it.
    replicas = deployment.spec.replicas
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(deployment),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": deployment.name,
            },
            "minReplicas": stable_replicas,
            "maxReplicas": max(replicas * HPA_MAX_FACTOR, stable_replicas + 1),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": CPU_TARGET_PERCENT},
                    },
                }
            ],
        },
    }


def _disruption_budget(deployment: DeploymentFile) -> Manifest:
    # maxUnavailable rather than minAvailable: with one replica, minAvailable 1 would block
    # every node drain forever.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(deployment),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {L_DEPLOYMENT: deployment.name}},
        },
    }
