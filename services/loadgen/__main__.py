"""`python -m services.loadgen` (`shop-load`): drive the shop at a rate for a duration."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from services.config import Settings, settings_or_exit
from services.loadgen.client import GatewayHttp
from services.loadgen.mix import ShopWorkload
from services.loadgen.runner import LoadPlan, run_load
from services.loadgen.summary import format_summary

_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the load, print the summary; exit code 0."""
    settings = settings_or_exit("gateway", "shop-load")
    args = _parser(settings).parse_args(argv)
    http = GatewayHttp(args.gateway, args.api_key)
    plan = LoadPlan(rate=args.rate, duration_s=args.duration, workers=args.workers)
    until = "until Ctrl-C" if plan.duration_s == 0 else f"for {plan.duration_s:g} s"
    print(f"load: {plan.rate:g} req/s {until} against {args.gateway}", flush=True)
    previous = _stop_on_sigterm()
    started = time.monotonic()
    try:
        recorder = run_load(ShopWorkload(http), plan, sys.stdout)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    sys.stdout.write(format_summary(recorder, time.monotonic() - started))
    return 0


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shop-load", description=__doc__)
    parser.add_argument("--rate", type=_positive, default=10.0, help="requests per second")
    parser.add_argument(
        "--duration", type=_non_negative, default=30.0, help="seconds; 0 runs until Ctrl-C"
    )
    parser.add_argument("--gateway", default=settings.gateway_url, help="gateway base URL")
    parser.add_argument(
        "--api-key",
        default=min(settings.api_keys, default=""),
        help="API key sent as X-API-Key (default: the first of SHOP_API_KEYS)",
    )
    parser.add_argument("--workers", type=int, default=32, help="concurrent calls at most")
    return parser


def _stop_on_sigterm() -> _SignalHandler:
    # `docker stop` sends SIGTERM, and as PID 1 a process without a handler ignores it:
    # treat it as Ctrl-C so the run ends at once and still prints its summary.
    if threading.current_thread() is not threading.main_thread():
        return None

    def handle(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handle)


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


if __name__ == "__main__":
    sys.exit(main())
