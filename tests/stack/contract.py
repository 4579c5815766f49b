"""What the stack may rely on, read from docs/conventions.md, pyproject.toml and prometheus/."""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONVENTIONS = ROOT / "docs" / "conventions.md"
PROMETHEUS_DIR = ROOT / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
DASHBOARDS_DIR = ROOT / "dashboards" / "grafana" / "dashboards"
PROVISIONING_DIR = ROOT / "dashboards" / "grafana" / "provisioning"
COMPOSE_FILE = ROOT / "docker-compose.yml"

# Series Prometheus makes itself; dashboards may read them besides the contract.
PROMETHEUS_BUILTINS = frozenset({"up", "ALERTS"})
# Suffixes that make a backticked token of the metric section a metric name, not a label.
_METRIC_SUFFIXES = (
    "_total",
    "_seconds",
    "_bytes",
    "_requests",
    "_connections",
    "_info",
    "_threads",
    "*",
)
_PROMQL_WORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "inf", "nan"}
)


def require_tool(name: str, packages: str = "prometheus docker-compose") -> str:
    """Path of a binary; skip without it locally, fail in CI (CI=true) where it must exist."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not installed, and CI must run this test (.ci/run installs it)")
    pytest.skip(f"{name} is not installed (apt-get install {packages})")


def _section(markdown: str, heading: str) -> str:
    start = markdown.index(heading)
    end = markdown.find("\n## ", start + len(heading))
    return markdown[start : end if end != -1 else len(markdown)]


def _expand(token: str) -> list[str]:
    """grpc_{server,client}_x -> both; a trailing {labels} is dropped."""
    token = re.sub(r"\{[^}]*\}$", "", token)
    match = re.search(r"\{([^}]*)\}", token)
    if not match:
        return [token]
    head, tail = token[: match.start()], token[match.end() :]
    return [name for alt in match.group(1).split(",") for name in _expand(head + alt + tail)]


@dataclass(frozen=True)
class MetricContract:
    """The metric names docs/conventions.md promises, as exact names and name prefixes."""

    names: frozenset[str]
    prefixes: tuple[str, ...]

    def allows(self, name: str) -> bool:
        """Whether `name` is exported by the contract (histogram series included)."""
        return name in self.names or name.startswith(self.prefixes)


def metric_contract() -> MetricContract:
    """Parse the metric section of docs/conventions.md."""
    section = _section(CONVENTIONS.read_text(encoding="utf-8"), "## Metric names")
    names: set[str] = set()
    prefixes: list[str] = []
    for token in re.findall(r"`([^`]+)`", section):
        for name in _expand(token.strip()):
            if not re.fullmatch(r"[a-z_][a-z0-9_]*\*?", name) or not name.endswith(
                _METRIC_SUFFIXES
            ):
                continue
            if name.endswith("*"):
                prefixes.append(name[:-1])
            elif name.endswith("_seconds"):
                names.update(name + suffix for suffix in ("_bucket", "_sum", "_count"))
            else:
                names.add(name)
    return MetricContract(frozenset(names), tuple(prefixes))


def documented_variables() -> set[str]:
    """Every SHOP_* and OTEL_* variable named in docs/conventions.md."""
    text = CONVENTIONS.read_text(encoding="utf-8")
    return set(re.findall(r"`((?:SHOP|OTEL)_[A-Z0-9_]+)`", text))


@dataclass(frozen=True)
class Process:
    """One row of the conventions' process table."""

    name: str
    module: str
    port: int | None
    admin_port: int | None


def processes() -> dict[str, Process]:
    """The process table of docs/conventions.md by process name."""
    section = _section(CONVENTIONS.read_text(encoding="utf-8"), "## Processes")
    found = {}
    for line in section.splitlines():
        match = re.match(r"\|\s*([\w ]+?)\s*\|\s*`python -m ([\w.]+)`", line)
        if not match:
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        port = re.search(r"\d{4,5}", cells[2])
        admin = re.search(r"\d{4,5}", cells[3]) if len(cells) > 3 else None
        found[match.group(1)] = Process(
            match.group(1),
            match.group(2),
            int(port.group()) if port else None,
            int(admin.group()) if admin else None,
        )
    return found


def script_modules() -> set[str]:
    """Modules behind pyproject's [project.scripts] (services.user.__main__ -> services.user)."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    return {target.split(":")[0].removesuffix(".__main__") for target in scripts.values()}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (strings, matchers and ranges ignored)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found = re.findall(r"(?<![\w:.$])([A-Za-z_:][\w:]*)\b(?!\s*\()", text)
    return {name for name in found if name.lower() not in _PROMQL_WORDS}


def load_yaml(path: Path) -> Any:
    """Parse one YAML file."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rule_files() -> list[Path]:
    """The rule files every Prometheus config loads."""
    return sorted(RULES_DIR.glob("*.yml"))


def rules() -> Iterator[dict[str, Any]]:
    """Every rule (recording and alerting) of prometheus/rules/."""
    for path in rule_files():
        for group in load_yaml(path)["groups"]:
            yield from group["rules"]


def recorded_names() -> set[str]:
    """Names of every recording rule."""
    return {rule["record"] for rule in rules() if "record" in rule}
