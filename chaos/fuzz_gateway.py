"""The gateway fuzzed from its own OpenAPI document with schemathesis (property-based).

Every generated request (valid and invalid bodies, paths, query strings, headers) must get
an answer below 500, and every error answer must be the JSON error envelope.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok

from chaos.result import ScenarioResult
from services.harness.shop import Shop

# Stream routes answer as a stream once an order exists; a bound keeps a rare hit short.
CALL_TIMEOUT_S = 10.0
_CREDENTIALS = {"authorization", "x-api-key"}


def run(shop: Shop, quick: bool) -> ScenarioResult:
    """About 25 (quick) or 600 generated requests per operation of /openapi.json."""
    return fuzz(shop, 25 if quick else 600)


def fuzz(shop: Shop, per_operation: int) -> ScenarioResult:
    """Up to `per_operation` generated requests for each operation of /openapi.json."""
    result = ScenarioResult("fuzz_gateway")
    schemathesis.serializer("application/x-ndjson")(_ndjson)
    schema = schemathesis.openapi.from_url(f"{shop.gateway_url}/openapi.json")
    statuses: Counter[str] = Counter()
    bad: list[dict[str, Any]] = []
    operations = 0
    timings: dict[str, float] = {}
    invalid: list[str] = []
    for found in schema.get_all_operations():
        if not isinstance(found, Ok):
            invalid.append(str(found.err()))
            continue
        operation = found.ok()
        operations += 1
        started = time.monotonic()
        _fuzz(operation, shop, per_operation, statuses, bad, result)
        timings[f"{operation.method.upper()} {operation.path}"] = round(
            time.monotonic() - started, 2
        )
    result.figures = {
        "operations": operations,
        "statuses": dict(sorted(statuses.items())),
        "examples_of_violations": bad[:5],
        "seconds_per_operation": timings,
    }
    result.check("the document is valid", not invalid)
    result.check("zero 5xx", not any(b["status"] >= 500 for b in bad))
    result.check("every error is the envelope", not any(b["status"] < 500 for b in bad))
    result.check("every operation was fuzzed", operations > 0 and result.sent >= operations)
    return result


def _fuzz(
    operation: Any,
    shop: Shop,
    examples: int,
    statuses: Counter[str],
    bad: list[dict[str, Any]],
    result: ScenarioResult,
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    # Mostly with the right key, so requests get past authentication to the handlers.
    @given(case=operation.as_strategy(), with_key=st.integers(0, 4))
    def probe(case: Any, with_key: int) -> None:
        headers = {}
        if with_key:
            # Generated credentials would only be refused: replace them with the real key.
            for name in [n for n in case.headers or {} if n.lower() in _CREDENTIALS]:
                del case.headers[name]
            headers = {"X-API-Key": shop.api_key}
        response = case.call(base_url=shop.gateway_url, headers=headers, timeout=CALL_TIMEOUT_S)
        status = int(response.status_code)
        statuses[str(status)] += 1
        result.sent += 1
        if status < 400:
            result.succeeded += 1
            return
        result.failed[str(status)] = result.failed.get(str(status), 0) + 1
        if _unexpected(case, status) or not _is_envelope(response.content):
            bad.append(
                {
                    "request": f"{case.method} {case.formatted_path}",
                    "status": status,
                    "body": response.content[:200].decode(errors="replace"),
                }
            )

    probe()


def _unexpected(case: Any, status: int) -> bool:
    """A 5xx, except /readyz's documented 503 (a downstream too slow to answer its check)."""
    return status >= 500 and not (case.formatted_path == "/readyz" and status == 503)


def _ndjson(_context: Any, value: Any) -> bytes:
    """NDJSON bodies (POST /v1/users:import): one JSON document per line."""
    rows = value if isinstance(value, list) else [value]
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def _is_envelope(content: bytes) -> bool:
    try:
        body = json.loads(content)
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and {"code", "status", "message"} <= set(error)
