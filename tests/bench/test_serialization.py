"""The serialization benchmark measures real round trips and prints its figures as JSON last."""

from __future__ import annotations

import json

import pytest

from bench import serialization
from shop.order.v1 import order_pb2


@pytest.mark.parametrize("count", [1, 3])
def test_every_format_round_trips(count: int) -> None:
    orders = [serialization.sample_order(i) for i in range(count)]
    for fmt, codec in serialization.codecs_for(list(orders)).items():
        decoded = codec.decode(codec.encode())
        if fmt == "json":
            rows = [decoded] if count == 1 else decoded
            assert [row["id"] for row in rows] == [o.id for o in orders]  # type: ignore[union-attr]
        else:
            assert decoded == orders


def test_sample_order_total_matches_items() -> None:
    order = serialization.sample_order(items=10)
    assert len(order.items) == 10
    assert order.total_cents == sum(i.quantity * i.unit_price_cents for i in order.items)
    assert order.status == order_pb2.ORDER_STATUS_PAID


def test_main_prints_json_last(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    real_run = serialization.run
    monkeypatch.setattr(serialization, "run", lambda repeats, min_time_s: real_run(1, 0.0001))
    assert serialization.main(["--quick"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    figures = json.loads(last)
    assert figures["order10_proto_bytes"] < figures["order10_json_bytes"]
