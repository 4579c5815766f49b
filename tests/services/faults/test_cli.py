"""shop-faults' arguments: rates from 0 to 1, latencies of whole non-negative ms.

Its calls to a running service: tests/services/platform/test_admin.py.
"""

from __future__ import annotations

import pytest

from services.faults import cli


@pytest.mark.parametrize(
    ("argument", "value", "complaint"),
    [
        ("--error-rate", "0.25", None),
        ("--error-rate", "1", None),
        ("--error-rate", "3", "3.0 is above 1.0"),
        ("--error-after-rate", "-0.5", "-0.5 is below 0.0"),
        ("--error-rate", "lots", "'lots' is not a number"),
        ("--latency-ms", "250", None),
        ("--latency-ms", "-1", "-1 is below 0"),
        ("--latency-ms", "1.5", "'1.5' is not a whole number of ms"),
    ],
)
def test_set_checks_each_number(
    argument: str, value: str, complaint: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--admin", "http://127.0.0.1:1", "set", argument, value]
    if complaint is None:
        args = cli._parser().parse_args(argv)
        assert getattr(args, argument[2:].replace("-", "_")) == float(value)
        return
    with pytest.raises(SystemExit) as usage:
        cli.main(argv, environ={})
    assert usage.value.code == cli.EXIT_USAGE
    assert complaint in capsys.readouterr().err
