"""The base of every typed client: its methods' deadlines and retry flags, errors mapped once.

A client subclasses `ServiceClient`, names its service, stub and `MethodPolicy` list, and
writes one short method per RPC on top of `_call` (one response) or `_stream` (a stream of
responses). Every failure reaches the caller as a ShopError (`services.errors`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Self

import grpc

from services.config import Settings
from services.errors import from_rpc_error
from services.platform.channels import MethodPolicy, auth_metadata, open_channel
from services.platform.telemetry import ChannelTelemetry

Metadata = Sequence[tuple[str, str]]


class ServiceClient:
    """Calls one gRPC service over one shared channel; every failure is raised as ShopError."""

    service: ClassVar[str]
    """The fully qualified service name, e.g. `shop.user.v1.UserService`."""
    methods: ClassVar[tuple[MethodPolicy, ...]]
    """Each method's default deadline and whether gRPC may retry it."""
    stub: ClassVar[type[Any]]
    """The generated stub class."""

    def __init__(
        self,
        channel: grpc.Channel,
        metadata: Metadata = (),
        health_channel: grpc.Channel | None = None,
    ) -> None:
        """`channel` carries the calls; `health_channel` (default: the same) health checks.

        `connect` passes the untraced channel under the traced one as `health_channel`, so
        readiness probes make no spans or client metrics.
        """
        self.channel = channel
        self.health_channel = channel if health_channel is None else health_channel
        self._stub = self.stub(channel)
        self._metadata = tuple(metadata)
        self._timeouts = {policy.method: policy.timeout_s for policy in self.methods}

    @classmethod
    def connect(cls, target: str, settings: Settings, telemetry: ChannelTelemetry) -> Self:
        """One long-lived, instrumented, authenticated channel to `target`; create once, share."""
        channel = open_channel(target, cls.service, cls.methods, settings.tls)
        return cls(
            telemetry.intercept_channel(channel),
            auth_metadata(settings.service_token),
            health_channel=channel,
        )

    def close(self) -> None:
        """Close the channel (only when this client owns it, as from `connect`)."""
        self.channel.close()

    def _call(self, method: str, request: Any, timeout: float | None) -> Any:
        """Call a method with one response (its request may be an iterator: a client stream)."""
        try:
            return self._start(method, request, timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def _stream(self, method: str, request: Any, timeout: float | None) -> Iterator[Any]:
        """Start a method with a stream of responses; errors surface while iterating.

        The call starts at once. When the caller stops iterating early, the call is
        cancelled, which frees the stream on both sides.
        """
        return _mapped(self._start(method, request, timeout))

    def _start(self, method: str, request: Any, timeout: float | None) -> Any:
        deadline = self._timeouts[method] if timeout is None else timeout
        return getattr(self._stub, method)(request, timeout=deadline, metadata=self._metadata)


def _mapped(call: Any) -> Iterator[Any]:
    try:
        yield from call
    except grpc.RpcError as error:
        raise from_rpc_error(error) from None
    finally:
        call.cancel()  # a no-op once the stream has ended
