"""Store times (float seconds since the epoch) as protobuf Timestamps on the wire."""

from __future__ import annotations

from google.protobuf import timestamp_pb2


def to_timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    """`seconds` since the epoch as a Timestamp, to the nanosecond."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp
