"""The `serve` helper: services a test starts on free ports, all stopped when it ends."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from tests.support.servers import Echo, Serve


def test_serve_starts_each_service_with_its_settings_and_stops_them_all(tmp_path: Path) -> None:
    with ExitStack() as stack:
        serve = Serve(tmp_path, stack)
        user, payment = serve("user"), serve("payment", service_token="t")
        echo = serve.echo(Echo(), max_concurrent_rpcs=3)
        servers = [user.server, payment.server, echo.server]
        assert all(server.serving for server in servers)
        assert len({server.port for server in servers}) == 3
        assert (user.settings.service, payment.settings.service) == ("user", "payment")
        assert payment.settings.service_token == "t"
        assert echo.settings.max_concurrent_rpcs == 3
        assert user.settings.data_dir == payment.settings.data_dir == tmp_path
    assert not any(server.serving for server in servers)
