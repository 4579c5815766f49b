"""ImportUsers: rows validated one by one, stored in batches, stopped before the deadline.

The summary always says what was stored. Rows are committed in batches (one transaction
each); when the call's deadline comes near, the importer stops reading, commits the
batch in hand and answers with `complete` false, instead of letting the deadline cut
the call and leave the caller guessing which rows made it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from services.errors import ErrorCode, ShopError
from services.user.store import UserStore
from services.user.validation import validate_new_user
from shop.user.v1 import user_pb2

# Rows per transaction: large enough that commits cost little, small enough that the
# last one fits in the margin kept before the deadline.
BATCH_ROWS = 500
# An import reports at most this many row errors; `failed` still counts them all.
MAX_REPORTED_ERRORS = 100
# Kept back from the deadline to commit the last batch and send the summary.
MAX_MARGIN_S = 1.0
_MARGIN_SHARE = 0.1


def import_users(
    rows: Iterable[user_pb2.CreateUserRequest],
    store: UserStore,
    time_remaining: Callable[[], float | None],
) -> user_pb2.ImportUsersResponse:
    """Store the valid rows of `rows`; stop early (complete=False) when time runs short."""
    remaining = time_remaining()
    stop_at = None
    if remaining is not None:
        stop_at = time.monotonic() + remaining - min(MAX_MARGIN_S, remaining * _MARGIN_SHARE)
    summary = user_pb2.ImportUsersResponse(complete=True)
    batch: list[tuple[int, str, str]] = []
    for index, row in enumerate(rows):
        if stop_at is not None and time.monotonic() >= stop_at:
            summary.complete = False
            break
        summary.received += 1
        try:
            email, name = validate_new_user(row.email, row.name)
        except ShopError as error:
            _failed(summary, index, error)
            continue
        batch.append((index, email, name))
        if len(batch) >= BATCH_ROWS:
            _store(store, batch, summary)
            batch = []
    _store(store, batch, summary)
    # A duplicate is found when its batch commits, after later rows' validation errors.
    summary.errors.sort(key=lambda error: error.index)
    return summary


def _store(
    store: UserStore, batch: list[tuple[int, str, str]], summary: user_pb2.ImportUsersResponse
) -> None:
    if not batch:
        return
    stored = store.create_many([(email, name) for _, email, name in batch])
    taken = ShopError(ErrorCode.ALREADY_EXISTS, "a user with this email already exists")
    for (index, _, _), user in zip(batch, stored, strict=True):
        if user is None:
            _failed(summary, index, taken)
        else:
            summary.created += 1


def _failed(summary: user_pb2.ImportUsersResponse, index: int, error: ShopError) -> None:
    summary.failed += 1
    if len(summary.errors) < MAX_REPORTED_ERRORS:
        summary.errors.add(index=index, code=int(error.code), message=error.message)
