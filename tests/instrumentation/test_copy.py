"""Copyability: the folder alone, copied into an empty directory, works in a fresh interpreter."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import grpc

import instrumentation

from .conftest import last_json_line, run_child

SCRIPT = r"""
import json, sys
# -S skipped site (so no editable install of this project); add the dependencies by hand.
sys.path[:0] = [sys.argv[1]]
sys.path.append(sys.argv[2])
sys.modules["services"] = None  # any import of the project's services would now fail
from concurrent import futures

import flask
import grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import instrumentation

assert instrumentation.__file__.startswith(sys.argv[1]), instrumentation.__file__
exporter = InMemorySpanExporter()
tel = instrumentation.setup("copied", span_exporter=exporter)
handler = grpc.method_handlers_generic_handler(
    "copy.v1.Echo", {"Say": grpc.unary_unary_rpc_method_handler(lambda r, c: r)}
)
server = grpc.server(futures.ThreadPoolExecutor(2), interceptors=tel.server_interceptors())
server.add_generic_rpc_handlers((handler,))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
with tel.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{port}")) as channel:
    reply = channel.unary_unary("/copy.v1.Echo/Say")(b"hi", timeout=5)
server.stop(None)
app = flask.Flask("copied")
app.add_url_rule("/", "root", lambda: "ok")
tel.instrument_flask(app)
status = app.test_client().get("/").status_code
tel.force_flush(5)
labels = {"grpc_type": "unary", "grpc_service": "copy.v1.Echo", "grpc_method": "Say"}
labels["grpc_code"] = "OK"
print(json.dumps({
    "reply": reply.decode(),
    "status": status,
    "spans": sorted(s.name for s in exporter.get_finished_spans()),
    "handled": tel.registry.get_sample_value("grpc_server_handled_total", labels),
}))
tel.shutdown(2)
"""


def test_folder_copied_alone_works(tmp_path: Path) -> None:
    source = Path(instrumentation.__file__).parent
    shutil.copytree(
        source, tmp_path / "instrumentation", ignore=shutil.ignore_patterns("__pycache__")
    )
    site_packages = str(Path(grpc.__file__).parent.parent)
    script = tmp_path / "use_it.py"
    script.write_text(SCRIPT)
    argv = [sys.executable, "-I", "-S", str(script), str(tmp_path), site_packages]
    out = last_json_line(run_child(argv, cwd=tmp_path).stdout)
    assert out == {
        "reply": "hi",
        "status": 200,
        "spans": ["GET /", "copy.v1.Echo/Say", "copy.v1.Echo/Say"],
        "handled": 1.0,
    }


def test_no_import_of_services() -> None:
    source = Path(instrumentation.__file__).parent
    for path in source.glob("*.py"):
        text = path.read_text()
        assert "import services" not in text and "from services" not in text, path
