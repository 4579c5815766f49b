"""docs/stack.md and docs/operations.md stay true to the compose file and the fault CLI."""

from __future__ import annotations

import importlib.util
import re
import shlex

import pytest

from services.shop_layout import free_ports
from tests.stack.contract import COMPOSE_FILE, ROOT, load_yaml

STACK_DOC = ROOT / "docs" / "stack.md"


def test_every_url_of_the_demo_is_a_published_port() -> None:
    services = load_yaml(COMPOSE_FILE)["services"]
    # "127.0.0.1:HOST:CONTAINER": the host port is the middle one.
    published = {p.rsplit(":", 2)[-2] for s in services.values() for p in s.get("ports", [])}
    urls = set(re.findall(r"http://localhost:(\d+)", STACK_DOC.read_text(encoding="utf-8")))
    assert {"8080", "3000", "16686", "9090"} <= urls
    assert urls <= published


def test_fault_commands_in_the_docs_parse() -> None:
    """Every `shop-faults ...` line of docs/stack.md is accepted by the real CLI."""
    if importlib.util.find_spec("services.faults.cli") is None:
        pytest.skip("services.faults.cli is not built yet")
    from services.faults import cli

    text = STACK_DOC.read_text(encoding="utf-8")
    commands = re.findall(r"shop-faults (--admin \S+ .+)$", text, flags=re.MULTILINE)
    assert len(commands) >= 3
    unreachable = f"http://127.0.0.1:{free_ports(1)[0]}"
    for command in commands:
        argv = shlex.split(command)
        argv[1] = unreachable  # parse for real, but talk to nobody
        try:
            code = cli.main(argv, environ={})
        except SystemExit as error:  # argparse refuses the command line
            code = error.code
        assert code == cli.EXIT_UNREACHABLE, command
    # The admin ports the docs use are those of the compose file.
    services = load_yaml(COMPOSE_FILE)["services"]
    for command in commands:
        port = re.search(r"--admin http://127\.0\.0\.1:(\d+)", command)
        assert port, command
        assert any(
            s.get("environment", {}).get("SHOP_ADMIN_PORT") == port.group(1)
            for s in services.values()
        ), command
