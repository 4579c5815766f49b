"""Entry point of the user service: `python -m services.user` (`shop-user`)."""

from __future__ import annotations

import sys

from services.user.server import USER


def main() -> int:
    """Run the user service until SIGTERM."""
    return USER.main()


if __name__ == "__main__":
    sys.exit(main())
