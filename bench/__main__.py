"""``python -m bench NAME [args]``: run one benchmark, or ``all`` of them (JSON line last)."""

from __future__ import annotations

import importlib
import sys

# name -> module with ``main(argv) -> int``; adding a benchmark is one line here.
COMMANDS: dict[str, str] = {
    "overhead": "bench.overhead",
    "serialization": "bench.serialization",
    "e2e": "bench.e2e",
    "streaming": "bench.streaming",
    "export": "bench.export",
    "first_contact": "bench.first_contact",
    "db": "bench.db",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the named benchmark; ``all`` runs every one with the same arguments."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in (*COMMANDS, "all"):
        names = ", ".join([*COMMANDS, "all"])
        print(f"usage: python -m bench {{{names}}} [--quick] [args...]", file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    name, rest = args[0], args[1:]
    if name != "all":
        return int(importlib.import_module(COMMANDS[name]).main(rest))
    status = 0
    for each, module in COMMANDS.items():
        print(f"== bench {each}", flush=True)
        status |= int(importlib.import_module(module).main(rest))
    return status


if __name__ == "__main__":
    sys.exit(main())
