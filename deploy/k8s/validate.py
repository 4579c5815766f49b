"""`python -m deploy.k8s.validate`: render every overlay and validate each object's schema.

Built-in kinds: the Kubernetes 1.31 OpenAPI schemas shipped by kubernetes-validate, strict
(an unknown field is an error, as the API server's strict field validation makes it).
Prometheus Operator kinds: the pydantic models that cloudcoil-models-prometheus-operator
generates from the operator's CRDs (v0.80.1); the object must parse, and dumping the parsed
model must give the object back, so a misspelt field (which pydantic would drop) is an error too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import kubernetes_validate
import pydantic
from cloudcoil.models.prometheus_operator import v1 as monitoring_v1

from deploy.k8s.render import OVERLAYS, Manifest, RenderError, render

KUBERNETES_VERSION = "1.31"
MONITORING_API = "monitoring.coreos.com/v1"
MONITORING_KINDS: dict[str, Any] = {
    "ServiceMonitor": monitoring_v1.ServiceMonitor,
    "PodMonitor": monitoring_v1.PodMonitor,
    "PrometheusRule": monitoring_v1.PrometheusRule,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Validate the named overlays (all by default); one line each, exit 1 on any error."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("overlays", nargs="*", help=f"some of {', '.join(OVERLAYS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.overlays) - set(OVERLAYS))
    if unknown:
        parser.error(f"unknown overlays {unknown}; expected some of {list(OVERLAYS)}")
    failed = False
    for name in args.overlays or list(OVERLAYS):
        try:
            objects = render(OVERLAYS[name])
        except RenderError as error:
            print(f"{name}: {error}")
            failed = True
            continue
        errors = [f"{describe(obj)}: {problem}" for obj in objects for problem in validate(obj)]
        custom = sum(1 for obj in objects if obj.get("apiVersion") == MONITORING_API)
        print(
            f"{name}: {len(objects)} objects ({len(objects) - custom} built-in against Kubernetes "
            f"{KUBERNETES_VERSION} strict, {custom} Prometheus Operator), {len(errors)} errors"
        )
        for line in errors:
            print(f"  {line}")
        failed = failed or bool(errors)
    return 1 if failed else 0


def validate(obj: Manifest) -> list[str]:
    """The schema problems of one rendered object (empty when it is valid)."""
    if obj.get("apiVersion") == MONITORING_API:
        return _validate_custom(obj)
    return _validate_builtin(obj)


def describe(obj: Manifest) -> str:
    """kind/name, as kubectl prints an object."""
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def _validate_builtin(obj: Manifest) -> list[str]:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"no Kubernetes {KUBERNETES_VERSION} schema: {error.message}"]
    except kubernetes_validate.ValidationError as error:
        where = "/".join(str(part) for part in error.path) or "(root)"
        return [f"{where}: {error.message}"]
    return []


def _validate_custom(obj: Manifest) -> list[str]:
    model: Callable[..., Any] | None = MONITORING_KINDS.get(str(obj.get("kind")))
    if model is None:
        return [f"no CRD model for {obj.get('kind')}"]
    try:
        parsed = model.model_validate(obj)  # type: ignore[attr-defined]
    except pydantic.ValidationError as error:
        return [f"{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
    dumped = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
    plain = json.loads(json.dumps(obj))
    return [f"{path}: not a field of the CRD schema" for path in _unknown_paths(plain, dumped)]


def _unknown_paths(given: Any, kept: Any, path: str = "") -> list[str]:
    """Paths present in `given` but dropped from `kept` by the model (unknown fields)."""
    if isinstance(given, dict) and isinstance(kept, dict):
        found = []
        for key, value in given.items():
            child = f"{path}/{key}"
            found += [child] if key not in kept else _unknown_paths(value, kept[key], child)
        return found
    if isinstance(given, list) and isinstance(kept, list) and len(given) == len(kept):
        pairs = enumerate(zip(given, kept, strict=True))
        return [p for i, (g, k) in pairs for p in _unknown_paths(g, k, f"{path}/{i}")]
    return [] if given == kept else [f"{path} (changed by the model)"]


if __name__ == "__main__":
    sys.exit(main())
