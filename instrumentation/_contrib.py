"""Detects opentelemetry-instrumentation-grpc, so its RPC spans and ours are never both made.

``opentelemetry-instrument`` enables every installed instrumentor; the gRPC one patches
``grpc.server``/``grpc.*_channel`` (and the aio ones) to add its own interceptors. Its
instrumentors are ``BaseInstrumentor`` singletons whose public
``is_instrumented_by_opentelemetry`` says whether ``instrument()`` ran.
"""

from __future__ import annotations

import logging

log = logging.getLogger("instrumentation")

SIDES = {
    "GrpcInstrumentorServer": "grpc_server",
    "GrpcInstrumentorClient": "grpc_client",
    "GrpcAioInstrumentorServer": "grpc_aio_server",
    "GrpcAioInstrumentorClient": "grpc_aio_client",
}


def contrib_grpc_sides() -> frozenset[str]:
    """The sides (``grpc_server``, ``grpc_aio_client``, ...) the contrib instrumentor traces."""
    try:
        from opentelemetry.instrumentation import grpc as contrib
    except Exception:  # not installed, or broken: nothing to avoid
        return frozenset()
    active = set()
    for class_name, side in SIDES.items():
        instrumentor = getattr(contrib, class_name, None)
        try:
            if instrumentor is not None and instrumentor().is_instrumented_by_opentelemetry:
                active.add(side)
        except Exception:
            log.debug("cannot tell whether %s is active", class_name, exc_info=True)
    if active:
        log.info(
            "opentelemetry-instrumentation-grpc traces %s: its RPC spans are kept and this "
            "module only measures those sides (no duplicate spans)",
            ", ".join(sorted(active)),
        )
    return frozenset(active)
