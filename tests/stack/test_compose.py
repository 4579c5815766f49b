"""Static checks of docker-compose.yml and the Dockerfile against the conventions."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.stack.contract import (
    COMPOSE_FILE,
    DASHBOARDS_DIR,
    PROMETHEUS_DIR,
    ROOT,
    documented_variables,
    load_yaml,
    processes,
    require_tool,
    script_modules,
)

SHOP_IMAGE = "grpc-observability-shop:local"


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = load_yaml(COMPOSE_FILE)["services"]
    return services


def _shop_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in _services().items() if s.get("image") == SHOP_IMAGE}


def _module(service: dict[str, Any]) -> str:
    command = service["command"]
    assert command[:2] == ["python", "-m"], command
    return str(command[2])


@pytest.mark.prometheus
def test_docker_compose_config_is_valid() -> None:
    compose = require_tool("docker-compose")
    result = subprocess.run(
        [compose, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_every_scrape_target_is_a_compose_service_and_its_admin_port() -> None:
    services = _services()
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                assert host in services, target
                env = services[host]["environment"]
                assert env["SHOP_ADMIN_PORT"] == port, target
                assert _module(services[host]) == processes()[job["job_name"]].module, target


def test_every_shop_service_is_scraped_except_the_load_generator() -> None:
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    scraped = {
        target.rsplit(":", 1)[0]
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert set(_shop_services()) - scraped == {"loadgen"}


def test_every_command_is_a_declared_entry_point_with_the_conventions_ports() -> None:
    modules = script_modules()
    table = {p.module: p for p in processes().values()}
    for name, service in _shop_services().items():
        module = _module(service)
        assert module in modules, f"{name}: {module} is not in [project.scripts]"
        process = table[module]
        env = service["environment"]
        if process.admin_port is not None:
            assert env["SHOP_ADMIN_PORT"] == str(process.admin_port), name
        if process.name == "gateway":
            assert env["SHOP_HTTP_PORT"] == str(process.port), name
        elif process.port is not None:
            assert env["SHOP_GRPC_PORT"] == str(process.port), name
    assert {_module(s) for s in _shop_services().values()} >= {
        "services.user",
        "services.order",
        "services.payment",
        "services.gateway",
        "services.loadgen",
    }


def test_every_variable_is_documented_and_read_by_the_code() -> None:
    documented = documented_variables()
    config_py = ROOT / "services" / "config.py"
    code = config_py.read_text(encoding="utf-8") if config_py.exists() else None
    for name, service in _services().items():
        for variable in service.get("environment", {}):
            if variable.startswith(("SHOP_", "OTEL_")):
                assert variable in documented, f"{name}: {variable} not in docs/conventions.md"
            if variable.startswith("SHOP_") and code is not None:
                assert f'"{variable}"' in code, f"{name}: services/config.py never reads {variable}"


def test_every_shop_service_sends_traces_to_jaeger_under_its_job_name() -> None:
    for name, service in _shop_services().items():
        env = service["environment"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317", name
        assert env["OTEL_TRACES_EXPORTER"] == "otlp", name
        assert env["OTEL_SERVICE_NAME"] == name.split("-")[0], name
        assert env["SHOP_BIND_HOST"] == "0.0.0.0", name


def test_targets_point_at_compose_services_and_user_round_robins_over_two_replicas() -> None:
    services = _services()
    env = services["gateway"]["environment"]
    for variable in ("SHOP_USER_TARGET", "SHOP_ORDER_TARGET", "SHOP_PAYMENT_TARGET"):
        match = re.fullmatch(r"dns:///([\w-]+):(\d+)", env[variable])
        assert match, variable
        host, port = match.groups()
        owners = [
            n
            for n, s in services.items()
            if n == host or host in s.get("networks", {}).get("default", {}).get("aliases", [])
        ]
        assert owners, variable
        for owner in owners:
            assert services[owner]["environment"]["SHOP_GRPC_PORT"] == port, variable
    user_replicas = [n for n, s in _shop_services().items() if _module(s) == "services.user"]
    assert len(user_replicas) == 2
    assert env["SHOP_USER_TARGET"] == "dns:///user-grpc:50051"
    for replica in user_replicas:
        assert services[replica]["networks"]["default"]["aliases"] == ["user-grpc"]
        assert "user-data:/data" in services[replica]["volumes"]


def test_images_are_pinned() -> None:
    for name, service in _services().items():
        image = service["image"]
        if image == SHOP_IMAGE:
            assert service["build"] == ".", name
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and re.search(r"\d", tag) and tag != "latest", f"{name}: {image}"
    assert {s["image"].split(":")[0] for s in _services().values()} >= {
        "jaegertracing/jaeger",
        "prom/prometheus",
        "grafana/grafana",
    }
    assert _services()["jaeger"]["image"].split(":")[1].startswith("2.")


def test_health_checks_and_start_order() -> None:
    services = _services()
    for name, service in _shop_services().items():
        if name == "loadgen":
            continue
        port = service["environment"]["SHOP_ADMIN_PORT"]
        test = " ".join(service["healthcheck"]["test"])
        assert "python" in test and f"http://127.0.0.1:{port}/healthz" in test, name
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, name
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} -> {dependency}"
    assert services["loadgen"]["depends_on"]["gateway"]["condition"] == "service_healthy"
    assert services["gateway"]["depends_on"]["order"]["condition"] == "service_healthy"


def test_sqlite_data_lives_in_named_volumes() -> None:
    compose = load_yaml(COMPOSE_FILE)
    for name in ("user", "user-2", "order", "payment"):
        service = compose["services"][name]
        assert service["environment"]["SHOP_DATA_DIR"] == "/data"
        volume = next(v for v in service["volumes"] if v.endswith(":/data"))
        assert volume.split(":")[0] in compose["volumes"], name


def test_prometheus_and_grafana_services() -> None:
    services = _services()
    prometheus = services["prometheus"]
    assert "--enable-feature=exemplar-storage" in prometheus["command"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert "./prometheus:/etc/prometheus:ro,z" in prometheus["volumes"]
    grafana = services["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert grafana["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD:-admin}"


def _published() -> dict[str, list[str]]:
    return {name: list(s.get("ports", [])) for name, s in _services().items() if s.get("ports")}


def test_only_the_four_user_facing_ports_are_published_and_only_on_localhost() -> None:
    published = _published()
    assert published == {
        "gateway": ["127.0.0.1:8080:8080"],
        "grafana": ["127.0.0.1:3000:3000"],
        "jaeger": ["127.0.0.1:16686:16686"],
        "prometheus": ["127.0.0.1:9090:9090"],
    }
    # OTLP and the admin ports (9100 is node_exporter's default) stay inside the network.
    host_ports = {p.rsplit(":", 2)[1] for ports in published.values() for p in ports}
    assert not host_ports & {"4317", "4318", "9100", "9101", "9102", "9103"}


def test_bind_mounts_are_read_only_and_selinux_labelled() -> None:
    binds = [
        volume
        for service in _services().values()
        for volume in service.get("volumes", [])
        if volume.startswith(".")
    ]
    assert binds
    for volume in binds:
        assert volume.endswith(":ro,z"), volume


def test_jaeger_has_a_healthcheck_and_everyone_waits_until_it_is_healthy() -> None:
    services = _services()
    test = services["jaeger"]["healthcheck"]["test"]
    assert test == ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:13133/status"]
    waiting = {
        n: s["depends_on"]["jaeger"]
        for n, s in services.items()
        if "jaeger" in s.get("depends_on", {})
    }
    assert {"user", "user-2", "payment", "grafana"} <= set(waiting)
    assert all(c["condition"] == "service_healthy" for c in waiting.values()), waiting
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition["condition"] == "service_healthy", f"{name} -> {dependency}"


def _days(duration: str) -> float:
    units = {"m": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7, "y": 365}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)([mhdwy])", duration))


def test_prometheus_keeps_the_longest_window_any_rule_or_panel_reads() -> None:
    flags = dict(arg.split("=", 1) for arg in _services()["prometheus"]["command"] if "=" in arg)
    retention = _days(flags["--storage.tsdb.retention.time"])
    texts = [path.read_text(encoding="utf-8") for path in (PROMETHEUS_DIR / "rules").glob("*.yml")]
    texts += [path.read_text(encoding="utf-8") for path in DASHBOARDS_DIR.glob("*.json")]
    windows = [_days(w) for text in texts for w in re.findall(r"\[(\d+[mhdwy])\]", text)]
    assert max(windows) == 30, "the SLO window changed: update retention and docs/stack.md"
    assert retention >= max(windows)


def test_dockerfile_is_small_pinned_and_not_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base.group(1))
    assert "pip install -c requirements.lock ." in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, flags=re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "tests"} <= set(ignored)


def test_command_line_arguments_are_accepted() -> None:
    """Extra arguments (the load generator's rate and duration) parse: `--help` comes last."""
    for name, service in _shop_services().items():
        args = service["command"][3:]
        if not args:
            continue
        module = _module(service)
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not built yet")
        result = subprocess.run(
            [sys.executable, "-m", module, *args, "--help"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{name}: {result.stderr}"


def test_postgres_service_is_pinned_healthy_persistent_and_its_password_comes_from_env() -> None:
    compose = load_yaml(COMPOSE_FILE)
    postgres = compose["services"]["postgres"]
    assert re.fullmatch(r"postgres:\d+\.\d+-alpine", postgres["image"])
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert postgres["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-shop}"
    volume = next(v for v in postgres["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert volume.split(":")[0] in compose["volumes"]
    assert "ports" not in postgres  # reachable inside the compose network only


def test_every_stateful_service_runs_on_postgres_and_an_empty_url_gives_sqlite() -> None:
    services = _services()
    for name in ("user", "user-2", "order", "payment"):
        env = services[name]["environment"]
        url = env["SHOP_DATABASE_URL"]
        # `${VAR-default}` (no colon): unset gives PostgreSQL, set-but-empty gives SQLite.
        assert url.startswith("${SHOP_DATABASE_URL-postgresql://"), name
        assert "@postgres:5432/" in url and ":" not in url.split("//", 1)[1].split("@")[0], name
        assert env["PGPASSWORD"] == "${POSTGRES_PASSWORD:-shop}", name
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy", name
