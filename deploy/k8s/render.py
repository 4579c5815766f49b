"""Render the kustomize overlays with `kubectl kustomize` into a list of Kubernetes objects."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import yaml

K8S_DIR = Path(__file__).resolve().parent
OVERLAYS = {path.name: path for path in sorted((K8S_DIR / "overlays").iterdir()) if path.is_dir()}
_RENDER_TIMEOUT_S = 60

Manifest = dict[str, Any]


class RenderError(RuntimeError):
    """kubectl is missing or kustomize refused the overlay; the message says which."""


def kubectl() -> str | None:
    """The kubectl on PATH, else the one a wheel put beside this interpreter; or None."""
    return shutil.which("kubectl") or shutil.which("kubectl", path=sysconfig.get_path("scripts"))


def render(overlay: Path) -> list[Manifest]:
    """Every object `kubectl kustomize overlay` produces, in its order."""
    binary = kubectl()
    if binary is None:
        raise RenderError("kubectl is not installed (it ships kustomize)")
    try:
        result = subprocess.run(
            [binary, "kustomize", str(overlay)],
            capture_output=True,
            text=True,
            timeout=_RENDER_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RenderError(f"kubectl kustomize {overlay} took over {_RENDER_TIMEOUT_S} s") from None
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {overlay} failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
