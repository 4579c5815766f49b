"""`python -m services.faults`: the fault-injection CLI."""

from __future__ import annotations

import sys

from services.faults.cli import main

if __name__ == "__main__":
    sys.exit(main())
