"""Security through the real processes: who may call what, and where telemetry is served."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from services.harness.shop import Shop
from shop.user.v1 import user_pb2, user_pb2_grpc
from tests.conftest import ShopFactory
from tests.support.tls_certs import make_peer_certs


def _is_envelope(answer_json: object, status: str | None = None) -> bool:
    error = answer_json.get("error") if isinstance(answer_json, dict) else None
    return isinstance(error, dict) and (status is None or error.get("status") == status)


@pytest.mark.parametrize("path", ["/metrics", "/debug", "/debug/tracez", "/debug/spans"])
def test_metrics_and_debug_pages_are_only_on_admin_ports(shop: Shop, path: str) -> None:
    public = shop.request("GET", path)
    assert public.status == 404 and public.json()["error"]["code"] == 10007  # unknown route
    admin = shop.request("GET", path, base=shop.admin_url("gateway"), headers={"X-API-Key": ""})
    assert admin.status in (200, 400), admin.status  # /debug/spans wants a name
    if path == "/metrics":
        assert b"http_server_request_duration_seconds" in admin.body


@pytest.mark.parametrize(("key", "status"), [("", 401), ("wrong", 403)])
def test_v1_needs_a_key_in_the_envelope(shop: Shop, key: str, status: int) -> None:
    for method, path in [("GET", "/v1/users/u1"), ("POST", "/v1/orders"), ("GET", "/v1/nope")]:
        answer = shop.request(method, path, headers={"X-API-Key": key})
        assert answer.status == status, (path, answer.body)
        assert "error" in answer.json()


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json"])
def test_health_and_openapi_stay_open(shop: Shop, path: str) -> None:
    assert shop.request("GET", path, headers={"X-API-Key": ""}).status == 200


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ([], grpc.StatusCode.UNAUTHENTICATED),
        ([("authorization", "Bearer not-the-token")], grpc.StatusCode.PERMISSION_DENIED),
    ],
)
def test_services_refuse_calls_without_the_service_token(
    shop: Shop, metadata: list[tuple[str, str]], code: grpc.StatusCode
) -> None:
    ports = {"user": shop.layout.ports.user[0], "order": shop.layout.ports.order}
    ports["payment"] = shop.layout.ports.payment
    methods = {
        "user": "/shop.user.v1.UserService/GetUser",
        "order": "/shop.order.v1.OrderService/GetOrder",
        "payment": "/shop.payment.v1.PaymentService/Refund",
    }
    for name, port in ports.items():
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(methods[name])
            with pytest.raises(grpc.RpcError) as refused:
                call(b"", metadata=metadata, timeout=5)
            assert refused.value.code() == code, name


def test_fault_admin_needs_its_token(shop: Shop) -> None:
    for name in shop.launcher.names:
        base = shop.admin_url(name)
        body = {"latency_ms": 5}
        missing = shop.request("PUT", "/admin/faults", json_body=body, base=base)
        assert missing.status == 401 and _is_envelope(missing.json(), "UNAUTHENTICATED")
        wrong = shop.request(
            "PUT",
            "/admin/faults",
            json_body=body,
            base=base,
            headers={"Authorization": "Bearer nope"},
        )
        assert wrong.status == 403 and _is_envelope(wrong.json(), "PERMISSION_DENIED")
        assert shop.request("GET", "/admin/faults", base=base).status == 401
        auth = {"Authorization": f"Bearer {shop.admin_token}"}
        shown = shop.request("GET", "/admin/faults", base=base, headers=auth)
        assert shown.status == 200 and shown.json()["default"]["latency_ms"] == 0


def test_rate_limit_is_429_with_retry_after(make_shop: ShopFactory) -> None:
    shop = make_shop(env={"SHOP_RATE_LIMIT_RPS": "2"})
    answers = [shop.request("GET", "/v1/users/u1") for _ in range(10)]
    limited = [a for a in answers if a.status == 429]
    assert limited, [a.status for a in answers]
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert _is_envelope(limited[0].json(), "RESOURCE_EXHAUSTED")
    other = shop.request("GET", "/v1/users/u1", headers={"X-API-Key": "someone-else"})
    assert other.status == 403  # another client's bucket: refused for its key, not limited


def test_whole_shop_over_mtls(make_shop: ShopFactory, tmp_path: Path) -> None:
    server = make_peer_certs(tmp_path / "shop")
    tls = {"SHOP_TLS_CA": str(server.ca), "SHOP_TLS_CERT": str(server.cert)}
    # A generous deadline: the first calls pay for TLS handshakes on a shared machine.
    shop = make_shop(env={**tls, "SHOP_TLS_KEY": str(server.key), "SHOP_REQUEST_TIMEOUT_S": "5"})
    created = shop.request("POST", "/v1/users", json_body={"email": "t@example.org", "name": "T"})
    assert created.status == 201, created.body
    order = {
        "user_id": created.json()["id"],
        "items": [{"sku": "a", "quantity": 1, "unit_price_cents": 100}],
        "currency": "EUR",
    }
    placed = shop.request("POST", "/v1/orders", json_body=order)
    assert placed.status == 201 and placed.json()["status"] == "ORDER_STATUS_PAID"
    token = [("authorization", f"Bearer {shop.layout.tokens.service_token}")]
    request = user_pb2.GetUserRequest(id=created.json()["id"])
    with grpc.insecure_channel(f"127.0.0.1:{shop.layout.ports.user[0]}") as plain:
        with pytest.raises(grpc.RpcError) as refused:
            user_pb2_grpc.UserServiceStub(plain).GetUser(request, metadata=token, timeout=3)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    stranger = make_peer_certs(tmp_path / "other")  # signed by another CA
    creds = grpc.ssl_channel_credentials(
        server.ca.read_bytes(), stranger.key.read_bytes(), stranger.cert.read_bytes()
    )
    with grpc.secure_channel(f"127.0.0.1:{shop.layout.ports.user[0]}", creds) as foreign:
        with pytest.raises(grpc.RpcError) as untrusted:
            user_pb2_grpc.UserServiceStub(foreign).GetUser(request, metadata=token, timeout=3)
        assert untrusted.value.code() == grpc.StatusCode.UNAVAILABLE
