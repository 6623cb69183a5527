"""The kubernetes target: manifests rendered into a GitOps repository, never a cluster.

Every verb runs against two stores: a dict (to count writes) and a real git repository (so the
files are proven to round-trip through commits). Built-in kinds are validated with
kubernetes-validate against the Kubernetes 1.30 OpenAPI schemas; it has no schema for custom
resources (Argo CD, Flux) or for kustomize's file, so those are checked against JSON schemas
written here from the projects' documented required fields (see ``_CRD_SCHEMAS``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from slipway.core.errors import InvalidInput, NotFound
from slipway.deploy import manifests
from slipway.deploy.kubernetes import KubernetesTarget, ManifestStore, render_dockerfile
from slipway.deploy.manifests import Routing, render_objects, split_replicas, to_yaml
from slipway.deploy.spec import DeploymentFile, InvalidManifest, ModelPin
from slipway.deploy.target import DeploymentTarget, runtime_config

ENV = "prod"
ROOT = f"deploy/kubernetes/{ENV}/"
REPO = "https://git.example.com/ml/gitops.git"
BUILT_IN = {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}


def pin(version: int, name: str = "fraud") -> ModelPin:
    return ModelPin(name=name, version=version, digest="sha256:" + f"{version:x}" * 64)


def deployment_file(name: str = "fraud", **spec: Any) -> DeploymentFile:
    doc: dict[str, Any] = {
        "metadata": {"name": name, "environment": ENV},
        "spec": {"model": pin(3).model_dump(), "target": {"kind": "kubernetes"}, **spec},
    }
    return DeploymentFile.model_validate(doc)


class DictStore:
    """The ManifestStore contract over a dict; records every write."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.writes: list[tuple[dict[str, bytes | None], str]] = []

    def read(self, prefix: str) -> dict[str, bytes]:
        return {p: c for p, c in self.files.items() if p.startswith(prefix)}

    def write(self, changes: Mapping[str, bytes | None], message: str) -> None:
        self.writes.append((dict(changes), message))
        for path, content in changes.items():
            if content is None:
                self.files.pop(path, None)
            else:
                self.files[path] = content


class GitStore:
    """The ManifestStore contract over a real git repository: reads HEAD, one commit a write."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.writes: list[tuple[dict[str, bytes | None], str]] = []
        self._git("init", "-q", "-b", "main")
        self._git("config", "user.email", "test@slipway.dev")
        self._git("config", "user.name", "test")
        self._git("commit", "-q", "--allow-empty", "-m", "empty")

    def _git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.root, check=True, capture_output=True, text=True
        )
        return done.stdout

    def commits(self) -> int:
        return int(self._git("rev-list", "--count", "HEAD"))

    def read(self, prefix: str) -> dict[str, bytes]:
        paths = self._git("ls-tree", "-r", "--name-only", "HEAD").splitlines()
        out = {}
        for path in paths:
            if path.startswith(prefix):
                out[path] = subprocess.run(
                    ["git", "show", f"HEAD:{path}"], cwd=self.root, check=True, capture_output=True
                ).stdout
        return out

    def write(self, changes: Mapping[str, bytes | None], message: str) -> None:
        self.writes.append((dict(changes), message))
        for path, content in changes.items():
            file = self.root / path
            if content is None:
                file.unlink()
            else:
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_bytes(content)
        self._git("add", "-A")
        self._git("commit", "-q", "-m", message)


@pytest.fixture(params=["dict", "git"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DictStore | GitStore:
    if request.param == "git":
        return GitStore(tmp_path)
    return DictStore()


@pytest.fixture
def target(store: DictStore | GitStore) -> KubernetesTarget:
    return KubernetesTarget(store, ENV, repo_url=REPO)


def objects(store: DictStore | GitStore, name: str = "fraud") -> dict[str, Any]:
    prefix = f"{ROOT}{name}/"
    return {
        p.removeprefix(prefix): yaml.safe_load(c)
        for p, c in store.read(prefix).items()
        if p.startswith(prefix)
    }


# -- validation of every rendered object --------------------------------------------------------

# kubernetes-validate knows the built-in kinds only (it raises SchemaNotFoundError for the rest,
# asserted below). These schemas hold the fields the projects document as required, with the
# types and values Slipway relies on; they are NOT the CRDs' full OpenAPI schemas.
_NAMED = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {"name": {"type": "string", "minLength": 1}, "namespace": {"type": "string"}},
}
_CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    # https://argo-cd.readthedocs.io/en/stable/operator-manual/declarative-setup/#applications
    ("argoproj.io/v1alpha1", "Application"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _NAMED,
            "spec": {
                "type": "object",
                "required": ["project", "source", "destination"],
                "properties": {
                    "project": {"type": "string"},
                    "source": {
                        "type": "object",
                        "required": ["repoURL", "path", "targetRevision"],
                        "properties": {"repoURL": {"type": "string", "minLength": 1}},
                    },
                    "destination": {
                        "type": "object",
                        "anyOf": [{"required": ["server"]}, {"required": ["name"]}],
                    },
                    "syncPolicy": {
                        "type": "object",
                        "properties": {
                            "automated": {
                                "type": "object",
                                "properties": {
                                    "prune": {"const": True},
                                    "selfHeal": {"const": True},
                                },
                                "required": ["prune", "selfHeal"],
                            },
                            "syncOptions": {"type": "array", "items": {"type": "string"}},
                        },
                        "required": ["automated"],
                    },
                },
            },
        },
    },
    # https://fluxcd.io/flux/components/source/gitrepositories/
    ("source.toolkit.fluxcd.io/v1", "GitRepository"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _NAMED,
            "spec": {
                "type": "object",
                "required": ["url", "interval"],
                "properties": {
                    "url": {"type": "string", "pattern": "^(https?|ssh)://"},
                    "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                    "ref": {"type": "object", "properties": {"branch": {"type": "string"}}},
                },
            },
        },
    },
    # https://fluxcd.io/flux/components/kustomize/kustomizations/
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _NAMED,
            "spec": {
                "type": "object",
                "required": ["interval", "prune", "sourceRef"],
                "properties": {
                    "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                    "prune": {"type": "boolean"},
                    "path": {"type": "string", "pattern": "^\\./"},
                    "sourceRef": {
                        "type": "object",
                        "required": ["kind", "name"],
                        "properties": {"kind": {"enum": ["GitRepository", "OCIRepository"]}},
                    },
                },
            },
        },
    },
    # https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): {
        "type": "object",
        "required": ["apiVersion", "kind", "resources"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        },
    },
}


def validate(obj: dict[str, Any]) -> None:
    if obj["kind"] in BUILT_IN:
        assert kubernetes_validate.validate(obj, "1.30.0", strict=True) == "1.30"
        return
    with pytest.raises(SchemaNotFoundError):  # honest: kubernetes-validate cannot check these
        kubernetes_validate.validate(obj, "1.30.0", strict=True)
    jsonschema.validate(obj, _CRD_SCHEMAS[(obj["apiVersion"], obj["kind"])])


SCENARIOS = {
    "champion only": Routing(pin(3)),
    "canary at 0": Routing(pin(3), pin(4), 0.0),
    "canary at 0.5": Routing(pin(3), pin(4), 0.5),
    "canary at 1": Routing(pin(3), pin(4), 1.0),
    "shadow": Routing(pin(3), pin(4), 0.25, "shadow"),
}


@pytest.mark.parametrize("routing", SCENARIOS.values(), ids=SCENARIOS.keys())
@pytest.mark.parametrize("cpu_limit", [None, "2"])
def test_every_rendered_object_is_valid(routing: Routing, cpu_limit: str | None) -> None:
    deployment = deployment_file(replicas=4, resources={"cpu_limit": cpu_limit})
    rendered = render_objects(deployment, routing)
    for obj in rendered.values():
        validate(obj)
    for obj in manifests.gitops_objects(ENV, REPO, "main").values():
        validate(obj)
    assert rendered["kustomization.yaml"]["resources"] == sorted(
        f for f in rendered if f != "kustomization.yaml"
    )


def test_every_committed_file_is_valid_yaml_of_a_valid_object(
    target: KubernetesTarget, store: DictStore | GitStore
) -> None:
    target.create(deployment_file())
    target.create(deployment_file("churn"))
    target.load_challenger("fraud", pin(4), 0.3)
    files = store.read("deploy/")
    assert f"{ROOT}_gitops/argocd-application.yaml" in files
    assert f"{ROOT}fraud/deployment-canary.yaml" in files
    for content in files.values():
        validate(yaml.safe_load(content))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
def test_the_environment_folder_builds_with_kustomize(tmp_path: Path) -> None:
    # What Argo CD and Flux do with the folder: build the root kustomization.
    store = GitStore(tmp_path)
    target = KubernetesTarget(store, ENV, repo_url=REPO)
    target.create(deployment_file())
    target.create(deployment_file("churn"))
    target.load_challenger("fraud", pin(4), 0.5)
    built = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path / ROOT)], check=True, capture_output=True, text=True
    ).stdout
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(built))
    assert ("Deployment", "fraud-canary") in kinds
    assert ("Service", "churn") in kinds
    assert all(kind in BUILT_IN for kind, _ in kinds)  # the bootstrap objects are not synced
    assert len(kinds) == 11


# -- rendering -------------------------------------------------------------------------------


def test_deployment_runs_the_champion_with_probes_resources_and_rolling_update() -> None:
    deployment = deployment_file(replicas=3, resources={"cpu": "1", "memory": "1Gi"})
    obj = render_objects(deployment, Routing(pin(3)))["deployment.yaml"]
    spec = obj["spec"]
    container = spec["template"]["spec"]["containers"][0]
    assert container["command"] == ["slipway", "serve"]
    assert container["args"] == ["models:/fraud/3"]
    assert container["ports"][0]["containerPort"] == 8080
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"memory": "1Gi"},
    }
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    labels = obj["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "fraud"
    assert labels["slipway.dev/deployment"] == "fraud"
    assert (labels["slipway.dev/model"], labels["slipway.dev/version"]) == ("fraud", "3")
    notes = obj["metadata"]["annotations"]
    assert notes["slipway.dev/champion"] == "models:/fraud/3"
    assert notes["slipway.dev/digest"] == pin(3).digest
    assert notes["slipway.dev/weight"] == "0.0"
    assert notes["slipway.dev/config"] == runtime_config(deployment)
    assert spec["template"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    # The selector is immutable once applied: it must not carry the version.
    assert spec["selector"]["matchLabels"] == {
        "slipway.dev/deployment": "fraud",
        "slipway.dev/track": "stable",
    }


def test_config_map_carries_the_server_settings() -> None:
    deployment = deployment_file(batching={"max_batch_size": 16, "max_latency_ms": 5})
    rendered = render_objects(deployment, Routing(pin(3)))
    data = rendered["configmap.yaml"]["data"]
    assert data["SLIPWAY_SERVE_HOST"] == "0.0.0.0"
    assert data["SLIPWAY_SERVE_PORT"] == "8080"
    assert data["SLIPWAY_SERVE_MAX_BATCH_SIZE"] == "16"
    assert data["SLIPWAY_SERVE_MAX_LATENCY_MS"] == "5.0"
    env_from = rendered["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"configMapRef": {"name": "fraud"}} in env_from


def test_autoscaler_and_disruption_budget() -> None:
    rendered = render_objects(deployment_file(replicas=2), Routing(pin(3)))
    hpa = rendered["hpa.yaml"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "fraud"
    assert hpa["minReplicas"] == 2
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert rendered["pdb.yaml"]["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize(
    ("replicas", "weight", "split"),
    [(4, 0.1, (3, 1)), (4, 0.5, (2, 2)), (4, 1.0, (1, 4)), (1, 0.5, (1, 1)), (10, 0.3, (7, 3))],
)
def test_canary_split_is_a_replica_ratio(
    replicas: int, weight: float, split: tuple[int, int]
) -> None:
    assert split_replicas(replicas, weight) == split
    rendered = render_objects(deployment_file(replicas=replicas), Routing(pin(3), pin(4), weight))
    stable, canary = rendered["deployment.yaml"], rendered["deployment-canary.yaml"]
    assert (stable["spec"]["replicas"], canary["spec"]["replicas"]) == split
    assert canary["metadata"]["name"] == "fraud-canary"
    assert canary["spec"]["template"]["spec"]["containers"][0]["args"] == ["models:/fraud/4"]
    assert rendered["hpa.yaml"]["spec"]["minReplicas"] == split[0]
    # One Service in front of both tracks: both pods match its selector.
    selector = rendered["service.yaml"]["spec"]["selector"]
    for obj in (stable, canary):
        assert selector.items() <= obj["spec"]["template"]["metadata"]["labels"].items()


def test_a_canary_at_weight_zero_runs_outside_the_service() -> None:
    rendered = render_objects(deployment_file(), Routing(pin(3), pin(4), 0.0))
    selector = rendered["service.yaml"]["spec"]["selector"]
    labels = rendered["deployment-canary.yaml"]["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= labels.items()


def test_shadow_loads_the_challenger_in_the_stable_pods() -> None:
    rendered = render_objects(deployment_file(), Routing(pin(3), pin(4), 0.25, "shadow"))
    assert "deployment-canary.yaml" not in rendered
    args = rendered["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == [
        *("models:/fraud/3", "--challenger", "models:/fraud/4"),
        *("--weight", "0.25", "--mode", "shadow"),
    ]


def test_rendering_is_deterministic() -> None:
    routing = Routing(pin(3), pin(4), 0.5)
    first = {f: to_yaml(o) for f, o in render_objects(deployment_file(), routing).items()}
    second = {f: to_yaml(o) for f, o in render_objects(deployment_file(), routing).items()}
    assert first == second
    assert list(first) == sorted(first)


def test_two_repositories_given_the_same_verbs_hold_the_same_bytes(tmp_path: Path) -> None:
    stores: list[DictStore | GitStore] = [DictStore(), GitStore(tmp_path)]
    for store in stores:
        target = KubernetesTarget(store, ENV, repo_url=REPO)
        target.create(deployment_file())
        target.load_challenger("fraud", pin(4), 0.1)
        target.set_weight("fraud", 0.5)
    assert stores[0].read("") == stores[1].read("deploy/")


def test_gitops_objects_point_at_the_environment_folder() -> None:
    objs = manifests.gitops_objects(ENV, REPO, "release")
    app = objs["argocd-application.yaml"]["spec"]
    assert app["source"] == {"repoURL": REPO, "targetRevision": "release", "path": ROOT[:-1]}
    assert app["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    flux = objs["flux-kustomization.yaml"]["spec"]
    assert flux["path"] == "./" + ROOT[:-1]
    assert flux["prune"] is True
    assert flux["sourceRef"]["name"] == objs["flux-gitrepository.yaml"]["metadata"]["name"]
    assert objs["flux-gitrepository.yaml"]["spec"]["ref"] == {"branch": "release"}


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: deployment_file("Fraud"), "deployment name"),
        (lambda: deployment_file("a" * 60), "deployment name"),
        (lambda: deployment_file(target={"namespace": "ML_Team"}), "namespace"),
    ],
)
def test_names_kubernetes_rejects_are_invalid_input(
    make: Callable[[], DeploymentFile], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        render_objects(make(), Routing(pin(3)))


def test_model_names_must_fit_a_label_value() -> None:
    with pytest.raises(InvalidInput, match="label value"):
        render_objects(deployment_file(), Routing(pin(3, name="fraud-")))


# -- the target ------------------------------------------------------------------------------


def test_it_is_a_deployment_target(target: KubernetesTarget) -> None:
    assert isinstance(target, DeploymentTarget)
    store: ManifestStore = DictStore()  # the test stores satisfy the Protocol (mypy checks)
    assert target.kind == "kubernetes"
    assert store.read("") == {}


def test_create_then_observe_round_trips(target: KubernetesTarget) -> None:
    deployment = deployment_file(replicas=3)
    target.create(deployment)
    observed = target.observe("fraud")
    assert observed is not None
    assert (observed.name, observed.champion, observed.challenger) == ("fraud", pin(3), None)
    assert (observed.replicas, observed.ready_replicas) == (3, 3)
    assert observed.config == runtime_config(deployment)
    assert observed.endpoints == ()
    assert observed.details["declared_only"] is True
    assert target.observe("nothing") is None
    assert target.names() == ["fraud"]


def test_each_verb_is_one_write_and_a_repeat_writes_nothing(
    target: KubernetesTarget, store: DictStore | GitStore
) -> None:
    steps: list[tuple[Callable[[], None], str]] = [
        (lambda: target.create(deployment_file()), "kubernetes: create fraud serving models:/"),
        (lambda: target.load_challenger("fraud", pin(4)), "kubernetes: fraud load challenger"),
        (lambda: target.set_weight("fraud", 0.5), "kubernetes: fraud canary weight 0.5"),
        (lambda: target.promote("fraud"), "kubernetes: fraud promote models:/fraud/4"),
        (lambda: target.reconfigure(deployment_file(replicas=2)), "kubernetes: reconfigure"),
        (lambda: target.replace_champion("fraud", pin(5)), "kubernetes: fraud replace champion"),
        (lambda: target.delete("fraud"), "kubernetes: delete fraud"),
    ]
    for step, message in steps:
        before = len(store.writes)
        step()
        assert len(store.writes) == before + 1
        assert store.writes[-1][1].startswith(message)
        if message.startswith("kubernetes: fraud promote"):
            continue  # a second promote has no challenger left: an error, tested below
        commits = store.commits() if isinstance(store, GitStore) else 0
        step()  # idempotent: the state is already reached, nothing is written
        assert len(store.writes) == before + 1
        if isinstance(store, GitStore):
            assert store.commits() == commits


def test_load_challenger_then_weights(
    target: KubernetesTarget, store: DictStore | GitStore
) -> None:
    target.create(deployment_file(replicas=4))
    target.load_challenger("fraud", pin(4), 0.0)
    observed = target.observe("fraud")
    assert observed is not None
    assert (observed.challenger, observed.weight, observed.mode) == (pin(4), 0.0, "canary")
    assert observed.details["effective_weight"] == 0.0
    target.set_weight("fraud", 0.5)
    observed = target.observe("fraud")
    assert observed is not None
    assert observed.weight == 0.5
    assert (observed.details["stable_replicas"], observed.details["canary_replicas"]) == (2, 2)
    # A weight change touches only the Deployments' replica counts and annotations.
    changed = set(store.writes[-1][0])
    assert changed == {f"{ROOT}fraud/deployment.yaml", f"{ROOT}fraud/deployment-canary.yaml"} | {
        f"{ROOT}fraud/hpa.yaml"
    }


def test_promote_makes_the_challenger_stable_and_removes_the_canary(
    target: KubernetesTarget, store: DictStore | GitStore
) -> None:
    target.create(deployment_file(replicas=2))
    target.load_challenger("fraud", pin(4), 1.0)
    target.promote("fraud")
    files = objects(store)
    assert "deployment-canary.yaml" not in files
    assert "deployment-canary.yaml" not in files["kustomization.yaml"]["resources"]
    assert files["deployment.yaml"]["spec"]["replicas"] == 2
    assert files["deployment.yaml"]["metadata"]["labels"]["slipway.dev/version"] == "4"
    assert store.writes[-1][0][f"{ROOT}fraud/deployment-canary.yaml"] is None
    observed = target.observe("fraud")
    assert observed is not None
    assert (observed.champion, observed.challenger, observed.weight) == (pin(4), None, 0.0)
    writes = len(store.writes)
    target.promote("fraud")  # promoted already: idempotent, nothing written
    assert len(store.writes) == writes


def test_drop_challenger_keeps_the_champion(
    target: KubernetesTarget, store: DictStore | GitStore
) -> None:
    target.create(deployment_file())
    target.load_challenger("fraud", pin(4), 0.5)
    target.drop_challenger("fraud")
    assert "deployment-canary.yaml" not in objects(store)
    observed = target.observe("fraud")
    assert observed is not None
    assert (observed.champion, observed.challenger) == (pin(3), None)
    writes = len(store.writes)
    target.drop_challenger("fraud")
    assert len(store.writes) == writes


def test_shadow_through_the_target(target: KubernetesTarget) -> None:
    target.create(deployment_file())
    target.load_challenger("fraud", pin(4), 0.2, mode="shadow")
    observed = target.observe("fraud")
    assert observed is not None
    assert (observed.mode, observed.weight, observed.details["canary_replicas"]) == (
        "shadow",
        0.2,
        0,
    )


def test_reconfigure_keeps_the_versions_and_restarts_pods_through_the_config_digest(
    target: KubernetesTarget, store: DictStore | GitStore
) -> None:
    target.create(deployment_file())
    target.load_challenger("fraud", pin(4), 0.5)
    new = deployment_file(replicas=4, batching={"max_batch_size": 8})
    target.reconfigure(new)
    observed = target.observe("fraud")
    assert observed is not None
    assert (observed.champion, observed.challenger, observed.replicas) == (pin(3), pin(4), 4)
    assert observed.config == runtime_config(new)
    template = objects(store)["deployment.yaml"]["spec"]["template"]["metadata"]
    assert template["annotations"]["slipway.dev/config"] == runtime_config(new)


def test_delete_removes_every_file(target: KubernetesTarget, store: DictStore | GitStore) -> None:
    target.create(deployment_file())
    target.create(deployment_file("churn"))
    target.load_challenger("fraud", pin(4), 0.5)
    target.delete("fraud")
    assert objects(store) == {}
    assert target.names() == ["churn"]
    root = yaml.safe_load(store.read(ROOT)[f"{ROOT}kustomization.yaml"])
    assert root["resources"] == ["churn"]
    writes = len(store.writes)
    target.delete("fraud")
    assert len(store.writes) == writes


def test_smoke_is_gated_by_readiness_probes(target: KubernetesTarget) -> None:
    target.create(deployment_file())
    target.load_challenger("fraud", pin(4))
    assert target.smoke("fraud", 4, 3) == 0.0
    with pytest.raises(InvalidInput, match="does not serve version 9"):
        target.smoke("fraud", 9, 3)


def test_invalid_input_names_the_problem(target: KubernetesTarget) -> None:
    with pytest.raises(NotFound, match="'fraud' is not rendered"):
        target.set_weight("fraud", 0.5)
    target.create(deployment_file())
    with pytest.raises(InvalidInput, match="no challenger loaded"):
        target.set_weight("fraud", 0.5)
    with pytest.raises(InvalidInput, match="weight must be a number between 0 and 1"):
        target.load_challenger("fraud", pin(4), 1.5)
    with pytest.raises(InvalidInput, match="mode must be"):
        target.load_challenger("fraud", pin(4), 0.5, mode="mirror")  # type: ignore[arg-type]
    staging = DeploymentFile.model_validate(
        {"metadata": {"name": "fraud", "environment": "staging"}, "spec": {"model": pin(3)}}
    )
    with pytest.raises(InvalidInput, match="environment 'staging'"):
        target.create(staging)
    with pytest.raises(NotFound):
        target.reconfigure(deployment_file("churn"))


def test_a_hand_edited_deployment_is_an_invalid_manifest(store: DictStore | GitStore) -> None:
    target = KubernetesTarget(store, ENV)
    target.create(deployment_file())
    path = f"{ROOT}fraud/deployment.yaml"
    doc = yaml.safe_load(store.read(path)[path])
    del doc["metadata"]["annotations"]["slipway.dev/champion"]
    store.write({path: to_yaml(doc)}, "hand edit")
    with pytest.raises(InvalidManifest, match="not as Slipway rendered it"):
        target.observe("fraud")


def test_no_repo_url_renders_no_bootstrap_objects(store: DictStore | GitStore) -> None:
    KubernetesTarget(store, ENV).create(deployment_file())
    assert not any("_gitops" in p for p in store.read("deploy/"))
    assert f"{ROOT}kustomization.yaml" in store.read(ROOT)


# -- the serving image ----------------------------------------------------------------------

_KEYWORDS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


def instructions(dockerfile: str) -> list[str]:
    """Logical instruction lines: comments dropped, backslash continuations joined."""
    logical, current = [], ""
    for line in dockerfile.splitlines():
        if not current and (not line.strip() or line.startswith("#")):
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    assert current == ""
    return logical


@pytest.fixture
def dockerfile() -> str:
    return render_dockerfile(version="1.2.3")


def test_dockerfile_parses(dockerfile: str) -> None:
    lines = instructions(dockerfile)
    assert all(line.split()[0] in _KEYWORDS for line in lines), lines
    assert lines[0] == "FROM python:3.11-slim"
    assert lines[-1] == 'ENTRYPOINT ["slipway", "serve"]'


def test_dockerfile_content(dockerfile: str) -> None:
    lines = instructions(dockerfile)
    assert "ARG SLIPWAY_VERSION=1.2.3" in lines
    assert 'RUN pip install "slipway[all]==${SLIPWAY_VERSION}"' in lines
    assert "EXPOSE 8080" in lines
    assert "USER 10001:10001" in lines
    assert lines.index("USER 10001:10001") > lines.index(
        'RUN pip install "slipway[all]==${SLIPWAY_VERSION}"'
    )
    check = next(line for line in lines if line.startswith("HEALTHCHECK"))
    assert "/v2/health/live" in check
    assert "urllib.request" in check
    assert "curl" not in dockerfile


def test_dockerfile_healthcheck_command_is_valid_python(dockerfile: str) -> None:
    import json

    check = next(line for line in instructions(dockerfile) if line.startswith("HEALTHCHECK"))
    argv = json.loads(check.split(" CMD ", 1)[1])
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<healthcheck>", "exec")


def test_dockerfile_from_a_wheel() -> None:
    text = render_dockerfile(wheel="dist/slipway-0.1.0-py3-none-any.whl", extras=("s3",))
    lines = instructions(text)
    assert "COPY dist/slipway-0.1.0-py3-none-any.whl /tmp/slipway-0.1.0-py3-none-any.whl" in lines
    assert any('"/tmp/slipway-0.1.0-py3-none-any.whl[s3]"' in line for line in lines)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"version": "1.0; rm -rf /"},
        {"wheel": "../x y.whl"},
        {"extras": ("all]",)},
        {"base_image": "python slim"},
    ],
)
def test_dockerfile_rejects_unsafe_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        render_dockerfile(**kwargs)
