"""Entry point of the payment service: `python -m services.payment` (`shop-payment`)."""

from __future__ import annotations

import sys

from services.payment.server import PAYMENT


def main() -> int:
    """Run the payment service until SIGTERM."""
    return PAYMENT.main()


if __name__ == "__main__":
    sys.exit(main())
