"""The deployment files parse and agree with the code: no Docker engine or cluster here, so
these checks are what stands between a typo and a failed rollout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from payreq.health import health_server
from payreq.settings import Settings
from tests.support import free_port
from worker import GRACEFUL_SHUTDOWN

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTINGS = {name.upper() for name in Settings.model_fields}
API_DRAIN_SECONDS = 20 + 5  # uvicorn's timeout_graceful_shutdown (payreq/cli.py) + preStop sleep


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def k8s() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in docs(path):
            if "metadata" in doc:
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def compose() -> dict[str, Any]:
    [doc] = docs(DEPLOY / "compose.yaml")
    return doc


def test_compose_runs_the_whole_production_like_host_with_health_checks() -> None:
    services = compose()["services"]
    assert {"postgres", "temporal", "temporal-ui", "api", "worker"} <= set(services)
    for name in ("postgres", "temporal", "api", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert services["temporal"]["environment"]["DB"] == "postgres12"  # Postgres persistence
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["api"]["command"][0] == "api" and services["worker"]["command"] == ["worker"]
    codec = services["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"]
    assert codec.startswith("http://localhost:8000/codec")
    worker_grace = int(services["worker"]["stop_grace_period"].rstrip("s"))
    assert worker_grace >= GRACEFUL_SHUTDOWN.total_seconds() + 5


def test_compose_sets_only_settings_the_service_reads() -> None:
    services = compose()["services"]
    for name in ("api", "worker", "migrate"):
        env = set(services[name]["environment"])
        assert env <= SETTINGS, (name, env - SETTINGS)
        assert {"DATABASE_URL", "TEMPORAL_ADDRESS", "PAYLOAD_ENCRYPTION_KEY"} <= env


def test_k8s_deployments_probe_readyz_and_healthz_and_drain_in_time() -> None:
    found = k8s()
    graces = {}
    for name in ("payreq-api", "payreq-worker"):
        spec = found[("Deployment", name)]["spec"]["template"]["spec"]
        [container] = spec["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        ports = {p["name"] for p in container["ports"]}
        assert container["readinessProbe"]["httpGet"]["port"] in ports
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert container["image"] == "payreq"
        graces[name] = spec["terminationGracePeriodSeconds"]
    assert graces["payreq-worker"] >= GRACEFUL_SHUTDOWN.total_seconds() + 10
    assert graces["payreq-api"] >= API_DRAIN_SECONDS


def test_k8s_autoscales_both_and_reads_config_from_a_secret() -> None:
    found = k8s()
    for name in ("payreq-api", "payreq-worker"):
        hpa = found[("HorizontalPodAutoscaler", name)]["spec"]
        assert (
            hpa["scaleTargetRef"]["name"] == name and hpa["scaleTargetRef"]["kind"] == "Deployment"
        )
        assert 1 < hpa["minReplicas"] < hpa["maxReplicas"]
        [container] = found[("Deployment", name)]["spec"]["template"]["spec"]["containers"]
        refs = {
            (kind, ref["name"]) for source in container["envFrom"] for kind, ref in source.items()
        }
        assert ("secretRef", "payreq-config") in refs
        for kind, ref_name in refs:
            assert (("Secret" if kind == "secretRef" else "ConfigMap"), ref_name) in found
        explicit = {e["name"] for e in container.get("env", [])}
        assert explicit <= SETTINGS


def test_k8s_config_keys_are_settings_and_temporal_auth_is_covered() -> None:
    found = k8s()
    config = found[("ConfigMap", "payreq-settings")]["data"]
    secret = found[("Secret", "payreq-config")]["stringData"]
    assert set(config) <= SETTINGS, set(config) - SETTINGS
    assert set(secret) <= SETTINGS, set(secret) - SETTINGS
    assert {"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY"} <= set(config)  # mTLS (Helm chart / Cloud)
    commented = (DEPLOY / "k8s" / "secret.example.yaml").read_text()
    assert "TEMPORAL_API_KEY" in commented and "TEMPORAL_API_KEY" in SETTINGS  # Cloud API key
    required = {n.upper() for n, f in Settings.model_fields.items() if f.is_required()}
    assert required <= set(config) | set(secret)


def test_kustomization_lists_files_that_exist() -> None:
    [kustomization] = docs(DEPLOY / "k8s" / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (DEPLOY / "k8s" / resource).is_file(), resource
    assert "secret.example.yaml" not in kustomization["resources"]


def test_dockerfile_builds_one_non_root_image_for_both_commands() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["payreq"]' in text
    for path in ("workflows/", "activities/", "api/", "payreq/", "worker.py", "deploy/migrations/"):
        assert f"COPY {path}" in text, path


async def test_worker_probe_endpoint_answers_healthz_and_readyz() -> None:
    healthy = True

    async def ready() -> None:
        if not healthy:
            raise ConnectionError("database down")

    port = free_port()
    async with (
        health_server("127.0.0.1", port, ready),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        healthy = False
        assert (await http.get("/readyz")).status_code == 503
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/other")).status_code == 404


async def test_worker_probe_endpoint_is_off_without_a_port() -> None:
    async with health_server("127.0.0.1", None, lambda: pytest.fail("never called")):
        pass
