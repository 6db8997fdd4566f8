"""docker-compose.yml, the Dockerfile and the monitoring files: parsed and checked for what
the deployment promises (roles, limits, networks, health checks, the sandbox's
capabilities, a dashboard whose queries name metrics the service really exports). The
stack itself runs in `make compose-test` (deploy/compose_e2e.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from reward_server.metrics import Metrics

REPO = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SANDBOX_CAPABILITIES = {"SYS_ADMIN", "SYS_CHROOT", "SETUID", "SETGID", "DAC_OVERRIDE", "KILL"}
MONITORING = REPO / "deploy" / "monitoring"


def networks_of(service: str) -> set[str]:
    return set(SERVICES[service].get("networks") or ["default"])


def test_services_and_roles():
    assert {"redis", "api", "worker"} <= set(SERVICES)
    assert SERVICES["api"]["command"] == ["reward", "serve", "--no-sandbox"]
    assert SERVICES["worker"]["command"] == ["reward", "worker"]
    for name in ("redis", "api", "worker"):
        assert "profiles" not in SERVICES[name], name  # the core stack starts by default
    # `--scale worker=N` needs a worker without a fixed name or host port.
    assert "container_name" not in SERVICES["worker"] and "ports" not in SERVICES["worker"]
    env = SERVICES["api"]["environment"]
    assert env["REWARD_BACKEND"] == "rq"
    assert env["REDIS_URL"] == SERVICES["worker"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"


@pytest.mark.parametrize("name", ["redis", "api", "worker"])
def test_containers_are_limited_and_read_only(name):
    service = SERVICES[name]
    assert service["read_only"] is True
    assert int(service["pids_limit"]) > 0
    assert re.fullmatch(r"\$\{[A-Z_]+:-\d+[mg]\}|\d+[mg]", str(service["mem_limit"])), service["mem_limit"]
    assert service["cap_drop"] == ["ALL"]
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and len(test) > 1
    assert (
        service.get("depends_on", {}).get("redis", {}).get("condition", "service_healthy")
        == "service_healthy"
    )


def test_api_runs_unprivileged():
    # In rq mode the API runs no program: no capabilities, not root.
    api = SERVICES["api"]
    assert "cap_add" not in api and not api.get("privileged", False)
    assert str(api["user"]).split(":")[0] not in ("0", "root")


@pytest.mark.parametrize("name", ["worker"])
def test_sandboxed_roles_get_exactly_the_sandbox_capabilities(name):
    service = SERVICES[name]
    assert set(service["cap_add"]) == SANDBOX_CAPABILITIES
    assert not service.get("privileged", False)
    assert not any(
        opt.startswith("seccomp") for opt in service.get("security_opt", [])
    )  # default profile stays
    tmpfs_paths = {entry.split(":", 1)[0] for entry in service["tmpfs"]}
    assert "/tmp" in tmpfs_paths


def test_workers_reach_only_redis():
    networks = COMPOSE["networks"]
    worker_nets = networks_of("worker")
    for net in worker_nets:
        assert networks[net].get("internal") is True, net
        members = {name for name in SERVICES if net in networks_of(name)}
        assert members == {"worker", "redis"}, (net, members)
    api_nets = networks_of("api")
    assert any(networks[net].get("internal") for net in api_nets & networks_of("redis"))
    published = [net for net in api_nets if not networks[net].get("internal")]
    assert len(published) == 1 and SERVICES["api"]["ports"]
    assert not networks_of("redis") - {net for net in networks if networks[net].get("internal")}


def test_monitoring_profile():
    for name in ("prometheus", "grafana"):
        assert SERVICES[name]["profiles"] == ["monitoring"]
        assert "image" in SERVICES[name]
        for volume in SERVICES[name]["volumes"]:
            source = volume.split(":", 1)[0]
            assert (REPO / source).exists(), source
    prometheus = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["api:8000"] and job["metrics_path"] == "/metrics"
    assert networks_of("prometheus") & networks_of("api")


def exported_metric_names() -> set[str]:
    """What the service's /metrics shows: counters get _total, histograms _bucket/_sum/_count."""
    names = set()
    for family in Metrics().registry.collect():
        names.update(sample.name for sample in family.samples)
        if family.type == "histogram":
            names.update(f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        if family.type == "counter":
            names.add(f"{family.name}_total")
        names.add(family.name)
    return names


def test_dashboard_queries_name_real_metrics():
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "reward-service.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\breward_[a-z_]+\b", expr)}
    exported = exported_metric_names()
    assert used and used <= exported, sorted(used - exported)
    # Throughput, latency, queue depth, verdicts and workers are on it.
    for needed in (
        "reward_items_total",
        "reward_http_request_seconds_bucket",
        "reward_queue_depth",
        "reward_rq_workers",
    ):
        assert needed in used, needed
    assert any("by (verdict)" in expr for expr in exprs)
    provisioning = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uids = {source["uid"] for source in provisioning["datasources"]}
    assert {panel["datasource"]["uid"] for panel in dashboard["panels"]} <= uids


def test_the_default_dockerfile_uses_a_public_base_and_pypi():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=debian:bookworm-slim$", dockerfile, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}", dockerfile, re.M)
    # Nothing made by `make up` is needed (an optional CA bundle for pip matches by glob or not at all).
    assert "ARG WHEELHOUSE" not in dockerfile and "--no-index" not in dockerfile
    copies = [line for line in dockerfile.splitlines() if line.startswith("COPY") and "deploy/.build" in line]
    assert copies == ["COPY deploy/system-packages.sh deploy/.build/pip-ca.cr[t] /tmp/reward-build/"]
    installs = re.findall(r"pip install[^\n]*", dockerfile)
    assert installs and not any("--no-index" in line for line in installs)
    assert 'ENTRYPOINT ["/usr/bin/tini", "--"]' in dockerfile
    build = COMPOSE["x-reward-image"]["build"]
    assert build["context"] == "." and "dockerfile" not in build  # the Dockerfile above
    assert build["args"]["BASE_IMAGE"] == "${DEFAULT_BASE_IMAGE:-debian:bookworm-slim}"


def test_the_offline_build_is_an_override():
    dockerfile = (REPO / "deploy" / "offline.Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=reward-base:bookworm", dockerfile, re.M)
    assert "ARG WHEELHOUSE=" in dockerfile
    installs = re.findall(r"pip (?:install|wheel)[^\n]*", dockerfile)
    assert installs and all("--no-index" in line for line in installs)
    override = yaml.safe_load((REPO / "deploy" / "compose.offline.yml").read_text())
    for name in ("redis", "api", "worker"):
        assert override["services"][name]["build"]["dockerfile"] == "deploy/offline.Dockerfile"
    script = (REPO / "deploy" / "compose.sh").read_text()
    assert "-f docker-compose.yml -f deploy/compose.offline.yml" in script
    ignore = (REPO / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*")] == "*"  # a whitelist: .venv, .git, tests stay out of the context
    assert "!deploy/.build/wheelhouse" in ignore and "!deploy/healthcheck.py" in ignore


def test_compose_script_parses():
    for script in ("deploy/compose.sh", "deploy/system-packages.sh"):
        result = subprocess.run(["bash", "-n", str(REPO / script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_the_image_holds_every_package_the_project_installs():
    """Each package pyproject.toml installs reaches the build context and the default build's
    copies; one left out breaks the `reward` command in the container (its CLI names them all)."""
    import tomllib

    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted(pattern.rstrip("*") for pattern in include)
    ignore = (REPO / ".dockerignore").read_text().split()
    dockerfile = (REPO / "Dockerfile").read_text()
    for package in packages:
        assert f"!{package}" in ignore, package
        assert f"COPY {package} /src/{package}" in dockerfile, package
    # The client is a distribution of its own (client/) that the service depends on: both builds
    # install it from this source beside the service.
    assert "!client" in ignore and "COPY client /src/client" in dockerfile
    assert "pip install --no-deps /src/client /src" in dockerfile
    assert "-w /dist /src/client /src" in (REPO / "deploy" / "offline.Dockerfile").read_text()
