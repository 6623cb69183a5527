"""The ``kubernetes`` deployment target: manifests committed to the GitOps repository.

Slipway never talks to a cluster. Each verb renders the deployment's Kubernetes objects
(:mod:`slipway.deploy.manifests`) into ``deploy/kubernetes/<environment>/<name>/`` and commits
the files that changed; Argo CD or Flux, pointed once at ``deploy/kubernetes/<environment>/``
(by the ``Application`` or ``GitRepository`` + ``Kustomization`` rendered under
``deploy/kubernetes/<environment>/_gitops/``), applies every commit and prunes what a commit
removed. See docs/kubernetes.md.

On Kubernetes a canary's traffic share is its share of the ready pods behind the one Service
(see :mod:`slipway.deploy.manifests`), and readiness probes, not Slipway, decide when a pod gets
traffic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from slipway.core.errors import InvalidInput, NotFound
from slipway.deploy import manifests
from slipway.deploy.manifests import Routing, deployment_dir, environment_dir, to_yaml
from slipway.deploy.spec import DeploymentFile, InvalidManifest, ModelPin
from slipway.deploy.target import ObservedDeployment, RoutingMode
from slipway.serving.settings import check_weight

__all__ = ["KubernetesTarget", "ManifestStore", "render_dockerfile"]

_STABLE = "deployment.yaml"
_CANARY = "deployment-canary.yaml"


class ManifestStore(Protocol):
    """Files of the GitOps repository, as the kubernetes target needs them."""

    def read(self, prefix: str) -> dict[str, bytes]:
        """Every file whose repository path starts with ``prefix``: path -> content."""
        ...

    def write(self, changes: Mapping[str, bytes | None], message: str) -> None:
        """Write (bytes) or delete (None) each path in one atomic commit titled ``message``."""
        ...


class KubernetesTarget:
    """Deployments of one environment as manifests in a GitOps repository.

    ``repo_url`` and ``branch`` are what Argo CD or Flux should follow; with no ``repo_url``
    the ``_gitops/`` bootstrap objects are not rendered (nothing valid could point at the
    repository). Every verb reads the environment's files once and writes only what changed,
    in one commit; a verb whose state is already reached writes nothing.
    """

    kind = "kubernetes"

    def __init__(
        self, store: ManifestStore, environment: str, repo_url: str = "", branch: str = "main"
    ) -> None:
        self.store = store
        self.environment = environment
        self.repo_url = repo_url
        self.branch = branch

    def names(self) -> list[str]:
        """Deployments rendered for this environment."""
        return _names(self._files())

    def observe(self, name: str) -> ObservedDeployment | None:
        """What the committed manifests declare for ``name``, or None if nothing is rendered.

        No cluster is reachable from here, so this reports the declared state: ``ready_replicas``
        equals ``replicas`` and ``endpoints`` is empty. Whether the pods really are ready is
        for Argo CD or Flux (and ``kubectl rollout status``) to tell.
        """
        files = self._files()
        state = self._state(files, name)
        if state is None:
            return None
        deployment, routing = state
        replicas = deployment.spec.replicas
        stable, canary = replicas, 0
        if routing.challenger is not None and routing.mode == "canary":
            stable, canary = manifests.split_replicas(replicas, routing.weight)
        # A weight-0 canary runs outside the Service: it gets no traffic yet.
        effective = canary / (stable + canary) if canary and routing.weight > 0 else 0.0
        if routing.mode == "shadow":
            effective = routing.weight
        prefix = deployment_dir(self.environment, name)
        return ObservedDeployment(
            name=name,
            champion=routing.champion,
            challenger=routing.challenger,
            weight=routing.weight,
            mode=routing.mode,
            replicas=replicas,
            ready_replicas=replicas,
            config=self._annotations(files, name).get(manifests.A_CONFIG, ""),
            endpoints=(),
            details={
                "namespace": deployment.spec.target.namespace,
                "stable_replicas": stable,
                "canary_replicas": canary,
                "effective_weight": round(effective, 4),
                "declared_only": True,
                "files": sorted(p for p in files if p.startswith(prefix)),
            },
        )

    def create(self, deployment: DeploymentFile) -> None:
        """Render ``deployment`` with its model as the only (champion) version."""
        self._check_environment(deployment)
        model = deployment.spec.model
        self._write(
            deployment.name,
            deployment,
            Routing(champion=model),
            f"kubernetes: create {deployment.name} serving {model.uri}",
        )

    def reconfigure(self, deployment: DeploymentFile) -> None:
        """Re-render with new replicas, resources, batching or image, keeping the versions."""
        self._check_environment(deployment)
        _, routing = self._require(deployment.name)
        self._write(
            deployment.name,
            deployment,
            routing,
            f"kubernetes: reconfigure {deployment.name} "
            f"({deployment.spec.replicas} replicas, image {deployment.spec.target.image})",
        )

    def load_challenger(
        self, name: str, model: ModelPin, weight: float = 0.0, mode: RoutingMode = "canary"
    ) -> None:
        """Render the challenger beside the champion: a ``<name>-canary`` Deployment (canary),
        kept out of the Service while ``weight`` is 0, or loaded in-process by the stable pods
        (shadow)."""
        weight = check_weight(weight)
        _check_mode(mode)
        deployment, routing = self._require(name)
        new = Routing(routing.champion, model, weight, mode)
        self._write(
            name,
            deployment,
            new,
            f"kubernetes: {name} load challenger {model.uri} ({mode} {weight:g})",
        )

    def set_weight(self, name: str, weight: float, mode: RoutingMode = "canary") -> None:
        """Change the challenger's share: the canary/stable pod counts (canary) or the share
        the stable pods copy to it (shadow)."""
        weight = check_weight(weight)
        _check_mode(mode)
        deployment, routing = self._require(name)
        if routing.challenger is None:
            raise InvalidInput(
                f"deployment {name!r} has no challenger loaded, so there is no weight to set; "
                "load a challenger first"
            )
        new = Routing(routing.champion, routing.challenger, weight, mode)
        self._write(name, deployment, new, f"kubernetes: {name} {mode} weight {weight:g}")

    def smoke(self, name: str, version: int, requests: int) -> float:
        """Returns 0.0 without sending anything: no endpoint is reachable from here.

        On Kubernetes the readiness probe (``/v2/health/ready``, true once the model version is
        loaded, verified and warmed up) is the smoke check: the Service sends no request to a
        pod that is not ready and a rollout does not go on past it. This only checks that
        ``version`` is one the deployment declares.
        """
        if requests < 1:
            raise InvalidInput(f"smoke needs at least 1 request, got {requests}")
        _, routing = self._require(name)
        declared = {routing.champion.version}
        if routing.challenger is not None:
            declared.add(routing.challenger.version)
        if version not in declared:
            raise InvalidInput(
                f"deployment {name!r} does not serve version {version} "
                f"(it declares {', '.join(str(v) for v in sorted(declared))})"
            )
        return 0.0

    def promote(self, name: str) -> None:
        """The stable Deployment rolls to the challenger's version; the canary one is removed
        in the same commit (Argo CD prunes it last, once the stable pods are healthy)."""
        deployment, routing = self._require(name)
        if routing.challenger is None:
            return  # promoted already (a re-run after success), as the local target does
        new = Routing(champion=routing.challenger)
        self._write(name, deployment, new, f"kubernetes: {name} promote {routing.challenger.uri}")

    def drop_challenger(self, name: str) -> None:
        """Remove the challenger (its Deployment or the stable pods' shadow copy)."""
        deployment, routing = self._require(name)
        if routing.challenger is None:
            return
        new = Routing(champion=routing.champion)
        self._write(
            name, deployment, new, f"kubernetes: {name} drop challenger {routing.challenger.uri}"
        )

    def replace_champion(self, name: str, model: ModelPin) -> None:
        """Roll the stable Deployment to ``model`` (a rolling update, one surge pod at a time,
        so there is no downtime even for the recreate strategy); a challenger stays."""
        deployment, routing = self._require(name)
        new = Routing(model, routing.challenger, routing.weight, routing.mode)
        self._write(name, deployment, new, f"kubernetes: {name} replace champion with {model.uri}")

    def delete(self, name: str) -> None:
        """Remove every file of ``name``; Argo CD or Flux then prune its objects."""
        files = self._files()
        prefix = deployment_dir(self.environment, name)
        changes: dict[str, bytes | None] = {p: None for p in files if p.startswith(prefix)}
        if not changes:
            return
        remaining = [n for n in _names(files) if n != name]
        changes.update(self._environment_files(files, remaining))
        self.store.write(changes, f"kubernetes: delete {name}")

    # -- bookkeeping -------------------------------------------------------------------------

    def _files(self) -> dict[str, bytes]:
        return self.store.read(environment_dir(self.environment))

    def _require(self, name: str) -> tuple[DeploymentFile, Routing]:
        state = self._state(self._files(), name)
        if state is None:
            raise NotFound(
                f"deployment {name!r} is not rendered for environment {self.environment!r}"
            )
        return state

    def _annotations(self, files: Mapping[str, bytes], name: str) -> dict[str, str]:
        path = deployment_dir(self.environment, name) + _STABLE
        doc: Any = yaml.safe_load(files[path])
        return dict(doc["metadata"]["annotations"])

    def _state(
        self, files: Mapping[str, bytes], name: str
    ) -> tuple[DeploymentFile, Routing] | None:
        path = deployment_dir(self.environment, name) + _STABLE
        if path not in files:
            return None
        try:
            return manifests.read_routing(yaml.safe_load(files[path]))
        except (yaml.YAMLError, KeyError, TypeError, ValueError, ValidationError) as exc:
            # ValidationError is a ValueError; named for the reader. Hand edits land here.
            raise InvalidManifest(
                path, "metadata.annotations", f"not as Slipway rendered it ({exc})"
            ) from None

    def _check_environment(self, deployment: DeploymentFile) -> None:
        if deployment.environment != self.environment:
            raise InvalidInput(
                f"deployment {deployment.name!r} is for environment "
                f"{deployment.environment!r}; this target renders {self.environment!r}"
            )

    def _environment_files(
        self, files: Mapping[str, bytes], names: Sequence[str]
    ) -> dict[str, bytes]:
        """Changed environment-level files: the kustomization and the GitOps bootstrap."""
        root = environment_dir(self.environment)
        wanted = {root + "kustomization.yaml": to_yaml(manifests.kustomization(sorted(names)))}
        if self.repo_url:
            objects = manifests.gitops_objects(self.environment, self.repo_url, self.branch)
            for file, obj in objects.items():
                wanted[f"{root}{manifests.GITOPS_DIR}/{file}"] = to_yaml(obj)
        return {p: c for p, c in wanted.items() if files.get(p) != c}

    def _write(self, name: str, deployment: DeploymentFile, routing: Routing, message: str) -> None:
        files = self._files()
        prefix = deployment_dir(self.environment, name)
        wanted = {
            prefix + file: to_yaml(obj)
            for file, obj in manifests.render_objects(deployment, routing).items()
        }
        changes: dict[str, bytes | None] = {p: c for p, c in wanted.items() if files.get(p) != c}
        # Files of objects no longer rendered (a promoted canary) go; Argo CD/Flux prune them.
        changes.update({p: None for p in files if p.startswith(prefix) and p not in wanted})
        changes.update(self._environment_files(files, sorted({*_names(files), name})))
        if changes:
            self.store.write(dict(sorted(changes.items())), message)


def _names(files: Mapping[str, bytes]) -> list[str]:
    found = set()
    for path in files:
        parts = path.split("/")
        # deploy/kubernetes/<environment>/<name>/deployment.yaml
        if len(parts) == 5 and parts[4] == _STABLE and parts[3] != manifests.GITOPS_DIR:
            found.add(parts[3])
    return sorted(found)


def _check_mode(mode: str) -> None:
    if mode not in ("canary", "shadow"):
        raise InvalidInput(f"mode must be 'canary' or 'shadow', got {mode!r}")


# -- the serving image -------------------------------------------------------------------------

_VERSION = re.compile(r"^[0-9]+(\.[0-9]+)*([a-z0-9.+-]*)$")
_WHEEL = re.compile(r"^[A-Za-z0-9_./-]+\.whl$")
_EXTRA = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:@-]*$")


def render_dockerfile(
    *,
    version: str | None = None,
    wheel: str | None = None,
    extras: Sequence[str] = ("all",),
    base_image: str = "python:3.11-slim",
) -> str:
    """The Dockerfile of the serving image that ``slipway build`` builds.

    Installs Slipway from ``wheel`` (a path inside the build context, e.g.
    ``dist/slipway-0.1.0-py3-none-any.whl``) or else from PyPI at ``version`` (default: the
    installed version; overridable with ``--build-arg SLIPWAY_VERSION=...``), with ``extras``.
    Runs as a non-root user (uid 10001, as the rendered pods expect), listens on 8080 and
    checks ``/v2/health/live`` with the standard library (the slim image has no curl).
    """
    version = version or metadata.version("slipway")
    if not _VERSION.match(version):
        raise InvalidInput(f"invalid Slipway version {version!r}: expected e.g. 0.1.0")
    if wheel is not None and not _WHEEL.match(wheel):
        raise InvalidInput(f"invalid wheel path {wheel!r}: a relative path ending in .whl")
    if not _IMAGE.match(base_image):
        raise InvalidInput(f"invalid base image {base_image!r}")
    for extra in extras:
        if not _EXTRA.match(extra):
            raise InvalidInput(f"invalid extra {extra!r}")
    suffix = f"[{','.join(extras)}]" if extras else ""
    uid = manifests.UID
    if wheel is not None:
        name = wheel.rsplit("/", 1)[-1]
        install = [
            f"COPY {wheel} /tmp/{name}",
            f'RUN pip install "/tmp/{name}{suffix}" && rm /tmp/{name}',
        ]
    else:
        install = [f'RUN pip install "slipway{suffix}==${{SLIPWAY_VERSION}}"']
    check = (
        "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/v2/health/live'"
        " % os.environ.get('SLIPWAY_SERVE_PORT', '8080'), timeout=4)"
    )
    lines = [
        "# syntax=docker/dockerfile:1",
        "# Rendered by Slipway (slipway build): the inference server for one model version.",
        f"FROM {base_image}",
        f"ARG SLIPWAY_VERSION={version}",
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \\",
        "    PIP_DISABLE_PIP_VERSION_CHECK=1",
        f"RUN groupadd --system --gid {uid} slipway \\",
        f"    && useradd --system --uid {uid} --gid slipway --create-home "
        "--home-dir /home/slipway slipway",
        *install,
        f"USER {uid}:{uid}",
        "WORKDIR /home/slipway",
        "ENV SLIPWAY_HOME=/home/slipway/.slipway SLIPWAY_SERVE_HOST=0.0.0.0 \\",
        f"    SLIPWAY_SERVE_PORT={manifests.PORT}",
        f"EXPOSE {manifests.PORT}",
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\",
        f"    CMD {json.dumps(['python', '-c', check])}",
        'ENTRYPOINT ["slipway", "serve"]',
    ]
    return "\n".join(lines) + "\n"
