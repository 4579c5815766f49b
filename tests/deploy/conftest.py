"""The overlays rendered once per session; every test here skips when kubectl is missing."""

from __future__ import annotations

import pytest

from deploy.k8s.render import OVERLAYS, kubectl, render
from tests.deploy.manifests import Manifest


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    """Every overlay's objects, by overlay name."""
    if kubectl() is None:
        pytest.skip("kubectl not installed: deploy/k8s cannot be rendered here (CI has it)")
    return {name: render(path) for name, path in OVERLAYS.items()}


@pytest.fixture(params=sorted(OVERLAYS))
def overlay(request: pytest.FixtureRequest, rendered: dict[str, list[Manifest]]) -> str:
    """Each overlay's name in turn."""
    name: str = request.param
    return name


@pytest.fixture
def objects(overlay: str, rendered: dict[str, list[Manifest]]) -> list[Manifest]:
    """The objects of the overlay under test."""
    return rendered[overlay]
