"""The semantic conventions' exception attributes: ``exception.*`` and ``error.type`` names."""

from __future__ import annotations

import traceback
from typing import Any


def qualified_name(exception: BaseException) -> str:
    """An exception's fully-qualified class name (``exception.type``, ``error.type``)."""
    module = type(exception).__module__
    qualname = type(exception).__qualname__
    return qualname if module == "builtins" else f"{module}.{qualname}"


def exception_attributes(exception: BaseException) -> dict[str, Any]:
    """``exception.type``/``message``/``stacktrace`` (no deprecated ``exception.escaped``)."""
    return {
        "exception.type": qualified_name(exception),
        "exception.message": str(exception),
        "exception.stacktrace": "".join(traceback.format_exception(exception)),
    }
