"""`SHOP_DATABASE_URL`: a PostgreSQL URL, validated once, never shown with its password.

url = DatabaseUrl.parse("postgresql://shop:secret@db:5432/shop")
url.redacted()  # 'postgresql://shop:***@db:5432/shop' (for logs and error messages)
url.conninfo    # what psycopg connects with
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

SCHEMES = ("postgresql", "postgres")
DEFAULT_PORT = 5432


class DatabaseUrlError(ValueError):
    """The URL is malformed; the message names what is wrong and never the password."""


@dataclass(frozen=True)
class DatabaseUrl:
    """The parts of a PostgreSQL URL the shop needs; `password` stays out of repr."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    conninfo: str = field(repr=False)

    @classmethod
    def parse(cls, raw: str) -> DatabaseUrl:
        """Validate `raw`; DatabaseUrlError naming the problem (password masked) if malformed."""
        shown = _redact(raw)
        try:
            parts = urllib.parse.urlsplit(raw)
        except ValueError as error:
            raise DatabaseUrlError(f"{shown} is not a URL ({error})") from None
        if parts.scheme not in SCHEMES:
            raise DatabaseUrlError(
                f"{shown}: scheme {parts.scheme!r} is not one of {', '.join(SCHEMES)}"
            )
        if not parts.hostname:
            raise DatabaseUrlError(f"{shown}: no host (expected postgresql://user@host/db)")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise DatabaseUrlError(f"{shown}: the port is not a number in 1..65535") from None
        if port == 0:
            raise DatabaseUrlError(f"{shown}: the port is not a number in 1..65535")
        database = urllib.parse.unquote(parts.path.lstrip("/"))
        if not database or "/" in database:
            raise DatabaseUrlError(f"{shown}: no database name (expected .../dbname)")
        if not parts.username:
            raise DatabaseUrlError(f"{shown}: no user name (expected postgresql://user@host/db)")
        return cls(
            host=parts.hostname,
            port=port,
            database=database,
            user=urllib.parse.unquote(parts.username),
            password=urllib.parse.unquote(parts.password or ""),
            conninfo=raw,
        )

    def redacted(self) -> str:
        """The URL with the password replaced by `***`."""
        return _redact(self.conninfo)

    def __str__(self) -> str:
        return self.redacted()


def _redact(raw: str) -> str:
    """`raw` with anything between `user:` and `@` masked, even when the URL is malformed."""
    scheme, sep, rest = raw.partition("://")
    if not sep:
        return "(not a URL)" if ":" in raw or "@" in raw else repr(raw)
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return raw
    user, colon, _password = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"
