"""Oversize traceparent, tracestate and baggage: dropped at the W3C limits, never logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import flask
import grpc
import pytest
from opentelemetry import baggage

import instrumentation
from instrumentation import Telemetry
from instrumentation._header_limits import (
    BAGGAGE_MAX_MEMBER_BYTES,
    BAGGAGE_MAX_MEMBERS,
    TRACESTATE_MAX_CHARS,
    TRACESTATE_MAX_MEMBERS,
    DropCounter,
    drop_counter,
    within_limits,
)

from .conftest import from_export, warning_records
from .echo import UNARY, Seen

TRACE_ID, PARENT_ID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
SECRET = "s3cr3t-content"
HUGE_BAGGAGE = f"k={SECRET}" + "x" * 250_000


@pytest.fixture(autouse=True)
def quiet_interval() -> Iterator[None]:
    """A fresh one-warning interval for each test."""
    counter = drop_counter()
    saved = counter.interval_s
    counter.__init__(interval_s=60.0)  # type: ignore[misc]
    yield
    counter.__init__(interval_s=saved)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("traceparent", TRACEPARENT, True),
        ("traceparent", TRACEPARENT + "-x", False),
        ("traceparent", "01-" + "a" * 100, True),  # a later version may be longer
        ("traceparent", "01-" + "a" * 600, False),
        ("tracestate", "a=1", True),
        ("tracestate", "a=" + "b" * (TRACESTATE_MAX_CHARS - 2), True),
        ("tracestate", "a=" + "b" * (TRACESTATE_MAX_CHARS - 1), False),
        ("tracestate", ",".join(f"k{i}=v" for i in range(TRACESTATE_MAX_MEMBERS)), True),
        ("tracestate", ",".join(f"k{i}=v" for i in range(TRACESTATE_MAX_MEMBERS + 1)), False),
        ("baggage", "k=" + "v" * (BAGGAGE_MAX_MEMBER_BYTES - 2), True),
        ("baggage", "k=" + "v" * (BAGGAGE_MAX_MEMBER_BYTES - 1), False),
        ("baggage", ",".join(f"k{i}=v" for i in range(BAGGAGE_MAX_MEMBERS)), True),
        ("baggage", ",".join(f"k{i}=v" for i in range(BAGGAGE_MAX_MEMBERS + 1)), False),
        ("baggage", ",".join(["k=" + "v" * 4000] * 2), True),
        ("baggage", ",".join(["k=" + "v" * 4000] * 3), False),  # over 8192 in all
    ],
)
def test_limits(name: str, value: str, kept: bool) -> None:
    assert within_limits(name, value) is kept


def test_one_warning_per_interval_with_a_count() -> None:
    counter = DropCounter(interval_s=60.0)
    logger = logging.getLogger("instrumentation.propagation")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        for _ in range(20):
            counter.record("baggage", "250000 bytes, limit 8192")
    finally:
        logger.removeHandler(handler)
    assert len(records) == 1
    assert counter.dropped == 20


def test_flask_drops_an_oversize_baggage_without_logging_it(
    tel: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    app = flask.Flask("limits-test")
    seen: list[dict[str, object]] = []

    @app.get("/ctx")
    def ctx() -> dict[str, object]:
        seen.append(dict(baggage.get_all()))
        return {"trace_id": instrumentation.current_trace_id()}

    tel.instrument_flask(app)
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    for _ in range(20):
        answer = client.get("/ctx", headers={"traceparent": TRACEPARENT, "baggage": HUGE_BAGGAGE})
        assert answer.status_code == 200
        # The trace continues: only the oversize header is dropped.
        assert answer.json == {"trace_id": TRACE_ID}
    assert seen == [{}] * 20
    assert SECRET not in caplog.text
    warnings = warning_records(caplog)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "baggage" in warnings[0].getMessage()
    assert sum(len(r.getMessage()) for r in caplog.records if not from_export(r)) < 2_000


def test_grpc_server_drops_oversize_tracestate_and_baggage_without_logging_them(
    instrumented_server: str, seen: Seen, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    metadata = (
        ("traceparent", TRACEPARENT),
        ("tracestate", f"k={SECRET}" + "x" * 600),
        ("baggage", f"k={SECRET}" + "x" * 5_000),  # one member over 4096
    )
    with grpc.insecure_channel(instrumented_server) as channel:
        for _ in range(5):
            assert channel.unary_unary(UNARY)(b"hi", metadata=metadata, timeout=5) == b"hi"
    assert seen.trace_ids == [TRACE_ID] * 5
    assert seen.baggage == [{}] * 5
    assert SECRET not in caplog.text
    assert len(warning_records(caplog)) == 1


def test_malformed_headers_within_limits_are_logged_without_content(
    tel: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    app = flask.Flask("limits-test")

    @app.get("/ctx")
    def ctx() -> str:
        return "ok"

    tel.instrument_flask(app)
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    for _ in range(10):
        headers = {
            "traceparent": TRACEPARENT,
            "tracestate": f"UPPER={SECRET}",
            "baggage": f"bad key={SECRET}",
        }
        assert client.get("/ctx", headers=headers).status_code == 200
    assert SECRET not in caplog.text
    # One line per OpenTelemetry logger and interval, however many requests.
    assert len(warning_records(caplog)) <= 2
