"""The semantic conventions' exception attributes: qualified type names, message, stack trace."""

from __future__ import annotations

from instrumentation._exceptions import exception_attributes, qualified_name


class Outer:
    class Failure(Exception):
        """A nested exception class: its qualified name includes the outer class."""


def test_builtin_exceptions_are_named_without_their_module() -> None:
    assert qualified_name(ValueError("x")) == "ValueError"


def test_other_exceptions_are_named_by_module_and_qualified_name() -> None:
    assert qualified_name(Outer.Failure()) == f"{__name__}.Outer.Failure"


def test_exception_attributes_carry_type_message_and_the_raising_frame() -> None:
    try:
        raise Outer.Failure("card declined")
    except Outer.Failure as exc:
        attributes = exception_attributes(exc)
    assert set(attributes) == {"exception.type", "exception.message", "exception.stacktrace"}
    assert attributes["exception.type"] == f"{__name__}.Outer.Failure"
    assert attributes["exception.message"] == "card declined"
    stacktrace = attributes["exception.stacktrace"]
    assert 'raise Outer.Failure("card declined")' in stacktrace
    assert stacktrace.rstrip().endswith("Outer.Failure: card declined")
