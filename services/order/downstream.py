"""What the order service needs from the user and payment services (their clients fit)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from shop.payment.v1 import payment_pb2
from shop.user.v1 import user_pb2


class UserDirectory(Protocol):
    """Looks users up; raises ShopError (NOT_FOUND 20003 for an unknown id)."""

    def get_user(self, user_id: str, timeout: float) -> user_pb2.User: ...


class Payments(Protocol):
    """Charges idempotently by key and reports charges by key; raises ShopError."""

    def charge(
        self, request: payment_pb2.ChargeRequest, timeout: float
    ) -> payment_pb2.ChargeRecord: ...

    def reconcile(
        self, keys: Iterable[str], timeout: float
    ) -> Iterator[payment_pb2.ReconcileResponse]: ...
