"""Server interceptor that injects the configured faults into the shop's own calls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc

from services.errors import ErrorCode, ShopError, abort
from services.faults.rules import FaultRegistry, FaultRule
from services.platform.handlers import (
    Behaviour,
    BusinessInterceptor,
    Handler,
    wrap_behaviour,
)


class FaultInterceptor(BusinessInterceptor):
    """Adds latency and fails calls (before or after the handler) as `faults` says."""

    def __init__(self, faults: FaultRegistry) -> None:
        self._faults = faults

    def intercept_business(
        self, handler: Handler, method: str, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        def wrap(behaviour: Behaviour, streaming_out: bool) -> Behaviour:
            if streaming_out:
                return lambda request, context: self._stream(behaviour, method, request, context)
            return lambda request, context: self._unary(behaviour, method, request, context)

        return wrap_behaviour(handler, wrap)

    def _unary(
        self, behaviour: Behaviour, method: str, request: Any, context: grpc.ServicerContext
    ) -> Any:
        fail_after = self._before(method, context)
        response = behaviour(request, context)
        if fail_after:
            self._fail(method, "error_after", context)
        return response

    def _stream(
        self, behaviour: Behaviour, method: str, request: Any, context: grpc.ServicerContext
    ) -> Iterator[Any]:
        fail_after = self._before(method, context)
        yield from behaviour(request, context)
        if fail_after:
            self._fail(method, "error_after", context)

    def _before(self, method: str, context: grpc.ServicerContext) -> bool:
        """Apply latency and early errors; say whether the call must fail once handled."""
        rule = self._faults.rule_for(method)
        if not rule.active:
            return False
        if rule.latency_ms:
            self._delay(rule, method, context)
        if self._faults.roll(rule.error_rate):
            self._fail(method, "error", context)
        return self._faults.roll(rule.error_after_rate)

    def _delay(self, rule: FaultRule, method: str, context: grpc.ServicerContext) -> None:
        self._faults.count(method, "latency")
        delay_s = rule.latency_ms / 1000
        remaining = context.time_remaining()
        # Never sleep past the caller's deadline, and wake up when the call goes away.
        ended = threading.Event()
        context.add_callback(ended.set)
        if remaining is not None and remaining < delay_s:
            ended.wait(max(remaining, 0.0))
            abort(
                context,
                ShopError(
                    ErrorCode.DOWNSTREAM_TIMEOUT, "deadline exceeded during injected latency"
                ),
            )
        ended.wait(delay_s)
        if not context.is_active():
            abort(
                context,
                ShopError(ErrorCode.DOWNSTREAM_TIMEOUT, "call ended during injected latency"),
            )

    def _fail(self, method: str, kind: str, context: grpc.ServicerContext) -> None:
        self._faults.count(method, kind)
        abort(context, ShopError(ErrorCode.INJECTED_FAULT, f"injected fault ({kind}) in {method}"))
