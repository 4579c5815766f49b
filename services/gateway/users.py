"""User routes: create, read, and bulk import (NDJSON streamed into the ImportUsers stream)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import IO, NoReturn

from flask import Blueprint, Response, jsonify, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from services.errors import ErrorCode, ShopError
from services.gateway.bodies import NDJSON, json_body, require_media_type
from services.gateway.codec import parse_json_object, to_json, to_message
from services.gateway.state import current_state
from shop.user.v1 import user_pb2

# An import may be far larger than a JSON body; it is read line by line, never whole.
MAX_IMPORT_BYTES = 16 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024
# Rows one import reads; the rest is left unread and the summary says where it stopped.
# Each row is one message of the ImportUsers stream, and grpcio's sync client waits for
# each write: 100,000 rows took 26 s between two processes on 2 cores (batched commits),
# too close to the 30 s of SHOP_IMPORT_TIMEOUT_S. 50,000 take about 13 s, half the
# deadline; 16 MiB of the shortest valid lines would have been 500,000 rows.
MAX_IMPORT_ROWS = 50_000
_USER_FIELDS = ("email", "name")

users = Blueprint("users", __name__)


@users.post("/v1/users")
def create_user() -> tuple[Response, int]:
    """Create one user from `{"email", "name"}`."""
    state = current_state()
    body = json_body(user_pb2.CreateUserRequest(), required=_USER_FIELDS)
    user = state.clients.users.create_user(body.email, body.name, state.settings.request_timeout_s)
    response = jsonify(to_json(user))
    response.headers["Location"] = url_for("users.get_user", user_id=user.id)
    return response, 201


@users.get("/v1/users/<user_id>")
def get_user(user_id: str) -> Response:
    """One user by id."""
    state = current_state()
    return jsonify(to_json(state.clients.users.get_user(user_id, state.settings.request_timeout_s)))


@users.post("/v1/users:import")
def import_users() -> Response:
    """Bulk import: one `{"email", "name"}` object per line, one summary back.

    The summary always says what was stored: `complete` is false when the import stopped
    early (its deadline, or MAX_IMPORT_ROWS), and `stopped_at_line` is the first line
    that was not read; send the body again from that line to continue.
    """
    state = current_state()
    require_media_type(NDJSON)
    request.max_content_length = MAX_IMPORT_BYTES
    lines = NdjsonUsers(request.stream, MAX_IMPORT_ROWS)
    try:
        summary = state.clients.users.import_users(lines, state.settings.import_timeout_s)
    except (ShopError, AbortImport):
        # A bad line cancels the client stream; its own error says which line, not the cancel.
        if lines.failure is not None:
            raise lines.failure from None
        raise
    if lines.failure is not None:
        raise lines.failure
    if lines.truncated:
        summary.complete = False
    body = to_json(summary)
    body["stopped_at_line"] = None if summary.complete else lines.line_of_row(summary.received)
    return jsonify(body)


class AbortImport(Exception):
    """Raised from inside the request stream to make gRPC cancel the ImportUsers call."""


class NdjsonUsers:
    """The lines of an NDJSON body as CreateUserRequests; remembers why it stopped early."""

    def __init__(self, stream: IO[bytes], max_rows: int) -> None:
        self._stream = stream
        self._max_rows = max_rows
        self._row_lines: list[int] = []  # the line number of each row handed out
        self._next_line = 1
        self.truncated = False
        self.failure: ShopError | None = None

    def line_of_row(self, row: int) -> int:
        """The line number of row `row` (0-based), or the line after the last one read."""
        return self._row_lines[row] if row < len(self._row_lines) else self._next_line

    def __iter__(self) -> Iterator[user_pb2.CreateUserRequest]:
        number = 0
        while True:
            line = self._read_line(number + 1)
            if not line:
                return
            number += 1
            if not line.strip():
                self._next_line = number + 1
                continue
            if len(self._row_lines) >= self._max_rows:
                self.truncated = True  # this line and the rest stay unread
                self._next_line = number
                return
            self._next_line = number + 1
            where = f"line {number}"
            try:
                data = parse_json_object(line, where)
                message = to_message(data, user_pb2.CreateUserRequest(), _USER_FIELDS, where=where)
            except ShopError as error:
                self._fail(error)
            self._row_lines.append(number)
            yield message

    def _read_line(self, number: int) -> bytes:
        try:
            line = self._stream.readline(MAX_LINE_BYTES + 1)
        except RequestEntityTooLarge:
            limit = f"import bodies are limited to {MAX_IMPORT_BYTES} bytes"
            self._fail(ShopError(ErrorCode.PAYLOAD_TOO_LARGE, limit))
        if len(line) > MAX_LINE_BYTES:
            message = f"line {number}: longer than {MAX_LINE_BYTES} bytes"
            self._fail(ShopError(ErrorCode.INVALID_ARGUMENT, message))
        return line

    def _fail(self, error: ShopError) -> NoReturn:
        self.failure = error
        raise AbortImport(error.message)


class _QuietAbort(logging.Filter):
    """Drops grpcio's traceback for an import we aborted on purpose (the 400 says it all)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], AbortImport))


def quiet_aborted_imports() -> None:
    """Install the filter on grpcio's channel logger once."""
    logger = logging.getLogger("grpc._channel")
    if not any(isinstance(f, _QuietAbort) for f in logger.filters):
        logger.addFilter(_QuietAbort())
