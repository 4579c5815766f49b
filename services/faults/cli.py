"""`shop-faults`: show, set and clear the fault rules of a running service over its admin port.

Example::

    shop-faults --admin http://127.0.0.1:9103 --token T set --error-rate 0.3 --method Charge
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_REFUSED = 3  # the service answered with an error (bad token, bad value)
EXIT_UNREACHABLE = 4  # no answer from the admin port

_TIMEOUT_S = 5.0

N = TypeVar("N", int, float)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the CLI; the exit code says what happened (0 ok, 2 usage, 3 refused, 4 unreachable)."""
    env = os.environ if environ is None else environ
    args = _parser().parse_args(argv)
    token = args.token if args.token is not None else env.get("SHOP_ADMIN_TOKEN", "")
    url = args.admin.rstrip("/") + "/admin/faults"
    if args.command == "show":
        return _call("GET", url, token, None)
    if args.command == "clear":
        return _call("DELETE", url, token, None)
    body: dict[str, Any] = {
        "error_rate": args.error_rate,
        "error_after_rate": args.error_after_rate,
        "latency_ms": args.latency_ms,
    }
    if args.method:
        body["method"] = args.method
    return _call("PUT", url, token, body)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shop-faults", description="Inject faults into a running shop service."
    )
    parser.add_argument(
        "--admin",
        default="http://127.0.0.1:9103",
        help="the service's admin URL (default: payment, http://127.0.0.1:9103)",
    )
    parser.add_argument("--token", help="admin token (default: $SHOP_ADMIN_TOKEN)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("show", help="print the current rules")
    commands.add_parser("clear", help="switch every fault off")
    setter = commands.add_parser("set", help="set the default rule, or one method's rule")
    setter.add_argument(
        "--method",
        help="only this method (e.g. Charge) or gateway route (e.g. create_order); default: all",
    )
    setter.add_argument("--error-rate", type=_rate, default=0.0, help="0..1, fail before handling")
    setter.add_argument(
        "--error-after-rate", type=_rate, default=0.0, help="0..1, fail after handling"
    )
    setter.add_argument("--latency-ms", type=_latency, default=0, help="added latency")
    return parser


def _bounded(parse: Callable[[str], N], kind: str, low: N, high: N | None) -> Callable[[str], N]:
    """An argparse `type`: the text as `kind` (by `parse`), from `low` to `high` (None: no top)."""

    def convert(text: str) -> N:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below {low}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{value} is above {high}")
        return value

    return convert


_rate = _bounded(float, "a number", 0.0, 1.0)
_latency = _bounded(int, "a whole number of ms", 0, None)


def _call(method: str, url: str, token: str, body: dict[str, Any] | None) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            print(json.dumps(json.loads(response.read()), indent=2))
            return EXIT_OK
    except urllib.error.HTTPError as error:
        print(f"shop-faults: {error.code}: {_message(error.read())}", file=sys.stderr)
        return EXIT_REFUSED
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        print(f"shop-faults: cannot reach {url}: {reason}", file=sys.stderr)
        return EXIT_UNREACHABLE


def _message(raw: bytes) -> str:
    try:
        return str(json.loads(raw)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return raw.decode(errors="replace")[:200]
