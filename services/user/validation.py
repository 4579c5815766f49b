"""Rules a new user must satisfy, shared by CreateUser and each row of ImportUsers."""

from __future__ import annotations

import re

from services.errors import ErrorCode, ShopError
from services.platform.text import printable

MAX_EMAIL_CHARS = 254
MAX_NAME_CHARS = 200
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


def validate_new_user(email: str, name: str) -> tuple[str, str]:
    """The normalized (email, name); ShopError 10002 when missing, 10001 when malformed."""
    email = email.strip().lower()
    name = name.strip()
    if not email:
        raise ShopError(ErrorCode.MISSING_FIELD, "email is required", {"field": "email"})
    if not name:
        raise ShopError(ErrorCode.MISSING_FIELD, "name is required", {"field": "name"})
    if len(email) > MAX_EMAIL_CHARS:
        message = f"email is longer than {MAX_EMAIL_CHARS} characters"
        raise ShopError(ErrorCode.INVALID_ARGUMENT, message, {"field": "email"})
    printable("email", email)
    if not _EMAIL.fullmatch(email):
        message = "email must look like name@example.com"
        raise ShopError(ErrorCode.INVALID_ARGUMENT, message, {"field": "email"})
    if len(name) > MAX_NAME_CHARS:
        message = f"name is longer than {MAX_NAME_CHARS} characters"
        raise ShopError(ErrorCode.INVALID_ARGUMENT, message, {"field": "name"})
    printable("name", name)
    return email, name
