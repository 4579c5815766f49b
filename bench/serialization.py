"""`python -m bench serialization`: protobuf binary, protobuf JSON and plain json, on shop messages.

The seed article claims protobuf is smaller and faster than JSON; this measures it on the
messages the shop really sends: an order with 10 items, a user, and a user's 100 orders
(streamed by ListOrders as 100 messages; the JSON alternative is one array of 100 objects).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from shop.order.v1 import order_pb2
from shop.user.v1 import user_pb2

FORMATS = ("proto", "protojson", "json")


def sample_order(index: int = 0, items: int = 10) -> order_pb2.Order:
    """A realistic paid order with `items` line items."""
    order = order_pb2.Order(
        id=f"ord_{index:024x}",
        user_id="usr_5f0c2a9e7b3d4c1a8e6f0b2d",
        currency="USD",
        status=order_pb2.ORDER_STATUS_PAID,
        idempotency_key=f"9b1deb4d-3b7d-4bad-9bdd-2b0d7b3d{index:04x}",
        charge_id=f"chg_{index:024x}",
    )
    for n in range(items):
        order.items.add(sku=f"SKU-{1000 + n}", quantity=1 + n % 3, unit_price_cents=1999 + 250 * n)
    order.total_cents = sum(i.quantity * i.unit_price_cents for i in order.items)
    order.create_time.FromSeconds(1_764_000_000 + index)
    order.update_time.FromSeconds(1_764_000_001 + index)
    return order


def sample_user() -> user_pb2.User:
    """A user as GetUser returns it."""
    user = user_pb2.User(
        id="usr_5f0c2a9e7b3d4c1a8e6f0b2d", email="ada@example.com", name="Ada Lovelace"
    )
    user.create_time.FromSeconds(1_764_000_000)
    return user


@dataclass(frozen=True)
class Codec:
    """Encode and decode callables for one wire format of one payload."""

    encode: Callable[[], bytes]
    decode: Callable[[bytes], object]


def codecs_for(messages: list[Message]) -> dict[str, Codec]:
    """The three formats for a list of messages (one message: a list of one)."""
    cls = type(messages[0])
    dicts = [json_format.MessageToDict(m, preserving_proto_field_name=True) for m in messages]
    single = len(messages) == 1

    def proto_encode() -> bytes:
        return b"".join(_length_prefixed(m.SerializeToString()) for m in messages)

    def proto_decode(data: bytes) -> object:
        return [cls.FromString(chunk) for chunk in _split_length_prefixed(data)]

    def protojson_encode() -> bytes:
        if single:
            return json_format.MessageToJson(messages[0], indent=None).encode()
        rows = ",".join(json_format.MessageToJson(m, indent=None) for m in messages)
        return f"[{rows}]".encode()

    def protojson_decode(data: bytes) -> object:
        parsed = json.loads(data)
        rows = [parsed] if single else parsed
        return [json_format.ParseDict(row, cls()) for row in rows]

    def json_encode() -> bytes:
        return json.dumps(dicts[0] if single else dicts, separators=(",", ":")).encode()

    return {
        "proto": Codec(proto_encode, proto_decode),
        "protojson": Codec(protojson_encode, protojson_decode),
        "json": Codec(json_encode, json.loads),
    }


def measure(codec: Codec, repeats: int, min_time_s: float) -> tuple[float, float, int]:
    """Median encode and decode time (ms) over `repeats` timed batches, and the size in bytes."""
    data = codec.encode()
    batch = _calibrate(codec.encode, min_time_s)
    encode_ms = statistics.median(_time_per_call(codec.encode, batch) for _ in range(repeats))
    decode_ms = statistics.median(
        _time_per_call(lambda: codec.decode(data), batch) for _ in range(repeats)
    )
    return encode_ms, decode_ms, len(data)


def run(repeats: int, min_time_s: float) -> dict[str, Any]:
    """Measure every payload in every format; returns the flat figures dict."""
    payloads: dict[str, list[Message]] = {
        "order10": [sample_order()],
        "user": [sample_user()],
        "orders100": [sample_order(i) for i in range(100)],
    }
    figures: dict[str, Any] = {}
    for name, messages in payloads.items():
        for fmt, codec in codecs_for(messages).items():
            encode_ms, decode_ms, size = measure(codec, repeats, min_time_s)
            figures[f"{name}_{fmt}_encode_ms"] = round(encode_ms, 5)
            figures[f"{name}_{fmt}_decode_ms"] = round(decode_ms, 5)
            figures[f"{name}_{fmt}_bytes"] = size
        for fmt in ("protojson", "json"):
            for what in ("encode_ms", "decode_ms", "bytes"):
                ratio = figures[f"{name}_{fmt}_{what}"] / figures[f"{name}_proto_{what}"]
                figures[f"{name}_{fmt}_to_proto_{what.split('_')[0]}_ratio"] = round(ratio, 2)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Print the table, then one JSON line with every figure."""
    parser = argparse.ArgumentParser(prog="python -m bench serialization", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    args = parser.parse_args(argv)
    repeats, min_time_s = (3, 0.02) if args.quick else (7, 0.1)
    figures = run(repeats, min_time_s)
    print(f"{'payload':<10} {'format':<10} {'bytes':>8} {'encode ms':>11} {'decode ms':>11}")
    for name in ("order10", "user", "orders100"):
        for fmt in FORMATS:
            print(
                f"{name:<10} {fmt:<10} {figures[f'{name}_{fmt}_bytes']:>8} "
                f"{figures[f'{name}_{fmt}_encode_ms']:>11.4f} "
                f"{figures[f'{name}_{fmt}_decode_ms']:>11.4f}"
            )
    print("ratios are format / protobuf binary (encode, decode, size):")
    for name in ("order10", "user", "orders100"):
        for fmt in ("protojson", "json"):
            print(
                f"  {name:<10} {fmt:<10} encode x{figures[f'{name}_{fmt}_to_proto_encode_ratio']}"
                f"  decode x{figures[f'{name}_{fmt}_to_proto_decode_ratio']}"
                f"  size x{figures[f'{name}_{fmt}_to_proto_bytes_ratio']}"
            )
    print(json.dumps({"bench": "serialization", "repeats": repeats, **figures}))
    return 0


def _length_prefixed(chunk: bytes) -> bytes:
    # gRPC frames each message with a length; 4 bytes here, as in the gRPC wire format.
    return len(chunk).to_bytes(4, "big") + chunk


def _split_length_prefixed(data: bytes) -> list[bytes]:
    chunks, offset = [], 0
    while offset < len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        chunks.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return chunks


def _calibrate(func: Callable[[], object], min_time_s: float) -> int:
    batch = 1
    while True:
        start = time.perf_counter()
        for _ in range(batch):
            func()
        if time.perf_counter() - start >= min_time_s or batch >= 1 << 20:
            return batch
        batch *= 2


def _time_per_call(func: Callable[[], object], batch: int) -> float:
    start = time.perf_counter()
    for _ in range(batch):
        func()
    return (time.perf_counter() - start) * 1000 / batch
