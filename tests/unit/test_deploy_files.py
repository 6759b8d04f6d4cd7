"""The deployment files (Dockerfile, deploy/compose.yaml, deploy/nginx.conf, deploy/k8s/) agree with the
code: every service has a container, each container gets the settings it cannot start without, probes
hit the routes the gateway serves, and the image's entry point runs deploy.serve_one. No Docker needed."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.catalog import SERVICES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
REQUIRED_ENV = ("SAJJA_DATABASE_URL", "SAJJA_KAFKA_BOOTSTRAP_SERVERS")
NAMES = sorted(SERVICES)


# --- Dockerfile -------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage and the build stages, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    out: list[tuple[str, str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def only(stage: list[tuple[str, str]], word: str) -> str:
    found = [args for w, args in stage if w == word]
    assert found, f"Dockerfile's final stage has no {word}"
    return found[-1]  # the last one wins


def test_dockerfile_entrypoint_runs_serve_one_with_a_service_as_default_command() -> None:
    stage = final_stage()
    assert json.loads(only(stage, "ENTRYPOINT")) == ["python", "-m", "deploy.serve_one"]
    cmd = json.loads(only(stage, "CMD"))
    assert len(cmd) == 1 and cmd[0] in SERVICES


def test_dockerfile_base_user_port_and_healthcheck() -> None:
    instructions = dockerfile_instructions()
    stage = final_stage()
    assert all(args.startswith("python:3.11-slim") for word, args in instructions if word == "FROM")
    user = only(stage, "USER").split(":")[0]
    assert user not in ("root", "0"), "the image must not run as root"
    assert "8000" in only(stage, "EXPOSE").split()
    healthcheck = only(stage, "HEALTHCHECK")
    assert "urllib" in healthcheck and "/healthz" in healthcheck
    envs = " ".join(args for word, args in stage if word == "ENV")
    assert re.search(r"SAJJA_HOST=0\.0\.0\.0\b", envs), "inside a container the service must listen on 0.0.0.0"


def test_dockerfile_installs_the_project_without_dev_extras_and_copies_every_package() -> None:
    instructions = dockerfile_instructions()
    runs = " ".join(args for word, args in instructions if word == "RUN")
    assert "pip" in runs and "[dev]" not in runs
    copied = " ".join(args for word, args in instructions if word == "COPY")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    for package in packages + ["pyproject.toml"]:
        assert re.search(rf"(^|\s){re.escape(package)}(\s|$)", copied), f"Dockerfile does not COPY {package}"


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    patterns = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for needed in (".venv", ".sajja", ".git", "bench/results", ".pytest_cache"):
        assert needed in patterns, f".dockerignore should exclude {needed}"


# --- compose ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_compose_has_one_container_per_service_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    host_ports: list[str] = []
    for name in NAMES:
        assert name in services, f"compose.yaml has no {name} service"
        svc = services[name]
        build = svc["build"]
        context = (DEPLOY / build["context"]).resolve()
        assert context == ROOT
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == ROOT / "Dockerfile"
        command = svc["command"]
        assert (command if isinstance(command, list) else command.split()) == [name]
        for port in svc["ports"]:
            host, _, container = str(port).rpartition(":")
            assert container == "8000"
            host_ports.append(host)
    assert len(set(host_ports)) == len(host_ports), f"host ports collide: {host_ports}"


def test_compose_services_get_their_settings_and_wait_for_healthy_servers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in NAMES:
        svc = services[name]
        env = env_of(svc)
        for var in REQUIRED_ENV:
            assert env.get(var), f"{name} lacks {var}"
        assert "@postgres:" in env["SAJJA_DATABASE_URL"]
        assert env["SAJJA_KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] == "kafka"
        # The hash key comes from the caller's environment, required, with no default in the file.
        assert re.fullmatch(r"\$\{SAJJA_NATIONAL_ID_HASH_KEY:\?[^}]*\}", env["SAJJA_NATIONAL_ID_HASH_KEY"])
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert svc["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["postgres"]["healthcheck"]["test"]
    assert services["kafka"]["healthcheck"]["test"]


def test_compose_kafka_runs_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = env_of(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "zookeeper" not in " ".join(env).lower()
    advertised = env["KAFKA_ADVERTISED_LISTENERS"]
    bootstraps = {env_of(compose["services"][n])["SAJJA_KAFKA_BOOTSTRAP_SERVERS"] for n in NAMES}
    for bootstrap in bootstraps:
        assert f"//{bootstrap}" in advertised, f"{bootstrap} is not an advertised listener"


def test_compose_gateway_routes_every_service_by_path_prefix(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    assert any(str(v).startswith("./nginx.conf:") for v in gateway["volumes"])
    conf = (DEPLOY / "nginx.conf").read_text()
    for name in NAMES:
        block = re.search(rf"location /{name}/ \{{(.*?)\}}", conf, re.S)
        assert block, f"nginx.conf has no location /{name}/"
        assert f"{name}:8000" in block.group(1)
        assert gateway["depends_on"][name]["condition"] == "service_healthy"


# --- Kubernetes -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        path = K8S / resource
        assert path.is_file(), f"kustomization.yaml lists missing {resource}"
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    listed = set(kustomization["resources"])
    unlisted = {p.name for p in K8S.glob("*.yaml")} - listed - {"kustomization.yaml"}
    assert not unlisted, f"not in kustomization.yaml: {sorted(unlisted)}"
    return docs


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_k8s_one_deployment_and_service_per_service(k8s: list[dict[str, Any]]) -> None:
    deployments, services = of_kind(k8s, "Deployment"), of_kind(k8s, "Service")
    for name in NAMES:
        assert name in deployments, f"no Deployment for {name}"
        assert name in services, f"no Service for {name}"
        spec = deployments[name]["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()
        assert services[name]["spec"]["selector"].items() <= labels.items()
        (container,) = spec["template"]["spec"]["containers"]
        assert container["args"] == [name]
        assert "command" not in container, "keep the image's ENTRYPOINT (deploy.serve_one)"
        port_names = {p["name"] for p in container["ports"]}
        assert {p["targetPort"] for p in services[name]["spec"]["ports"]} <= port_names


def test_k8s_containers_get_settings_from_the_secret_and_configmap(k8s: list[dict[str, Any]]) -> None:
    configmaps = of_kind(k8s, "ConfigMap")
    for name in NAMES:
        (container,) = of_kind(k8s, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        for var in REQUIRED_ENV:
            assert var in env, f"{name} lacks {var}"
        for var in ("SAJJA_DATABASE_URL", "SAJJA_NATIONAL_ID_HASH_KEY"):
            ref = env[var]["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "sajja-secrets" and ref["key"] == var
        for var, entry in env.items():
            ref = entry.get("valueFrom", {}).get("configMapKeyRef")
            if ref is not None:
                assert ref["key"] in configmaps[ref["name"]]["data"], f"{name}: {var} names a missing key"
        assert "configMapKeyRef" in env["SAJJA_KAFKA_BOOTSTRAP_SERVERS"]["valueFrom"]
    assert not of_kind(k8s, "Secret"), "the Secret is created outside the repository, not kept in it"


def test_k8s_probes_hit_healthz_and_readyz(k8s: list[dict[str, Any]]) -> None:
    for name in NAMES:
        (container,) = of_kind(k8s, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
        port_names = {p["name"] for p in container["ports"]}
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["port"] in port_names | {8000}


def test_k8s_ingress_routes_every_service_by_path_prefix(k8s: list[dict[str, Any]]) -> None:
    services = of_kind(k8s, "Service")
    (ingress,) = of_kind(k8s, "Ingress").values()
    routes = {p["path"]: p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    for name in NAMES:
        route = routes.get(f"/{name}")
        assert route is not None, f"Ingress has no /{name} path"
        assert route["pathType"] == "Prefix"
        backend = route["backend"]["service"]
        assert backend["name"] == name
        assert backend["port"]["name"] in {p["name"] for p in services[name]["spec"]["ports"]}


def test_k8s_serves_https_and_marks_cookies_secure(k8s: list[dict[str, Any]]) -> None:
    """Behind the Ingress's TLS every service sets its session and CSRF cookies Secure."""
    (ingress,) = of_kind(k8s, "Ingress").values()
    assert ingress["spec"].get("tls"), "the Ingress terminates TLS"
    (config,) = of_kind(k8s, "ConfigMap").values()
    assert config["data"]["SAJJA_SECURE_COOKIES"] == "true"
    for name in NAMES:
        (container,) = of_kind(k8s, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert "SAJJA_SECURE_COOKIES" in env, f"{name} does not get SAJJA_SECURE_COOKIES"
        ref = env["SAJJA_SECURE_COOKIES"].get("valueFrom", {}).get("configMapKeyRef")
        value = config["data"][ref["key"]] if ref else env["SAJJA_SECURE_COOKIES"].get("value")
        assert value == "true", f"{name}: cookies without Secure"


# --- deploy.serve_one -------------------------------------------------------------------------------


def run_serve_one(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # A clean environment: nothing from the developer's shell (SAJJA_* included) leaks in.
    clean = {"PATH": os.defpath, **env}
    return subprocess.run(
        [sys.executable, "-m", "deploy.serve_one", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_one_without_database_url_exits_2_and_says_what_to_set() -> None:
    result = run_serve_one("ledger", SAJJA_KAFKA_BOOTSTRAP_SERVERS="kafka:9092")
    assert result.returncode == 2, result.stderr
    assert "SAJJA_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_one_without_either_server_names_both() -> None:
    result = run_serve_one("ledger")
    assert result.returncode == 2, result.stderr
    assert "SAJJA_DATABASE_URL" in result.stderr and "SAJJA_KAFKA_BOOTSTRAP_SERVERS" in result.stderr


def test_serve_one_rejects_an_unknown_service() -> None:
    result = run_serve_one("nosuch", SAJJA_DATABASE_URL="postgresql://x@db/x", SAJJA_KAFKA_BOOTSTRAP_SERVERS="k:9092")
    assert result.returncode == 2, result.stderr
    assert "nosuch" in result.stderr and all(name in result.stderr for name in NAMES)


def test_serve_one_main_takes_the_service_name() -> None:
    from deploy import serve_one

    # sajja serve calls main(service): the service comes first and anything after it is optional.
    parameters = list(inspect.signature(serve_one.main).parameters.values())
    assert parameters[0].name == "service"
    assert all(p.default is not inspect.Parameter.empty for p in parameters[1:])


def _services_calling_others() -> set[str]:
    """Services whose code calls another service (Platform.service_client): they sign those calls, so they hold
    the signing keys in a split deployment (a call without a token is refused: 401)."""
    return {
        name
        for name in NAMES
        if "service_client(" in "".join(p.read_text() for p in (ROOT / "services" / name).rglob("*.py"))
    }


def test_every_service_that_calls_another_holds_the_signing_keys(
    compose: dict[str, Any], k8s: list[dict[str, Any]]
) -> None:
    callers = _services_calling_others()
    assert {"reporting", "lending"} <= callers
    for name in callers:
        assert "SAJJA_AUTH_SIGNING_KEYS" in compose["services"][name].get("environment", {}), f"compose: {name}"
        (container,) = of_kind(k8s, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        ref = env["SAJJA_AUTH_SIGNING_KEYS"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "sajja-secrets", "key": "SAJJA_AUTH_SIGNING_KEYS"}, f"k8s: {name}"
