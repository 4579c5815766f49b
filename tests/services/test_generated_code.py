"""services/gen/ is exactly what the pinned grpcio-tools makes of protos/: never stale."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _load_generator() -> object:
    spec = importlib.util.spec_from_file_location("gen_protos", REPO / "scripts" / "gen_protos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    generator = _load_generator()
    generator.generate(tmp_path)  # type: ignore[attr-defined]
    fresh, committed = _tree(tmp_path), _tree(REPO / "services" / "gen")
    assert sorted(fresh) == sorted(committed), "run `make protos`: files differ"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"run `make protos`: stale generated files {stale}"


def test_every_service_has_all_four_call_kinds_between_them() -> None:
    protos = "\n".join(p.read_text() for p in (REPO / "protos").rglob("*.proto"))
    assert "returns (stream" in protos  # server streaming
    assert "(stream CreateUserRequest) returns (ImportUsersResponse)" in protos  # client
    assert "(stream ReconcileRequest) returns (stream ReconcileResponse)" in protos  # bidi
