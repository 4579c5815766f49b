"""The outage's calls after the repair and its recovery time."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from chaos.load import Outcome
from chaos.outage import Outage, Promises, check_outage
from chaos.result import ScenarioResult
from services.order.sqlite_store import SqliteOrderStore
from services.order.store import PAID, LineItem, NewOrder
from services.payment.store import SUCCEEDED, NewCharge, SqliteChargeStore

ITEM = LineItem(sku="a", quantity=1, unit_price_cents=100)


def _outcome(started: float, ended: float, status: int) -> Outcome:
    return Outcome(index=0, started=started, ended=ended, status=status, body={})


def _outage(outcomes: list[Outcome]) -> Outage:
    return Outage(outcomes, [], breaking_at=1.0, broken_at=1.1, repairing_at=3.0, repaired_at=3.5)


def test_only_calls_started_after_the_repair_returned_count_as_after() -> None:
    before = _outcome(3.4, 3.6, 503)
    on_time = _outcome(3.5, 3.7, 201)
    outage = _outage([before, on_time, _outcome(4.0, 4.2, 201)])
    assert outage.after_repair() == [on_time, _outcome(4.0, 4.2, 201)]


def test_recovery_runs_to_the_end_of_the_last_failure_after_the_repair() -> None:
    outage = _outage([_outcome(3.6, 4.0, 503), _outcome(4.1, 4.75, 504), _outcome(5.0, 5.1, 201)])
    assert outage.recovery_s() == 1.25


def test_no_failure_after_the_repair_is_no_recovery_time() -> None:
    assert _outage([_outcome(2.0, 3.9, 503), _outcome(3.6, 3.7, 201)]).recovery_s() == 0.0


PROMISES = Promises(the_break="the stop", recovery_bound_s=1.0, hang_bound_s=2.0, settle_s=0.5)
DOWN = {"error": {"status": "UNAVAILABLE"}}


class DataDirShop:
    """What `check_outage` reads of a shop on SQLite: its data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.layout = SimpleNamespace(extra_env={})


def _stored(data_dir: Path, key: str) -> str:
    orders = SqliteOrderStore(data_dir / "order.db")
    charges = SqliteChargeStore(data_dir / "payment.db")
    try:
        order, _ = orders.create(NewOrder("u1", (ITEM,), "EUR", key))
        charge, _ = charges.charge(NewCharge(key, order.id, "u1", 100, "EUR", SUCCEEDED))
        orders.finalize(order.id, PAID, "test", charge_id=charge.id)
        return str(order.id)
    finally:
        orders.close()
        charges.close()


def _checked(tmp_path: Path, outcomes: list[Outcome], acked_before: list[str]) -> ScenarioResult:
    outage = Outage(outcomes, acked_before, 1.0, 1.1, 3.0, 3.5)
    while_down = [o for o in outcomes if 1.1 < o.started < 3.0]
    result = ScenarioResult("outage")
    check_outage(result, DataDirShop(tmp_path), outage, while_down, PROMISES)  # type: ignore[arg-type]
    return result


def test_an_outage_that_kept_every_promise(tmp_path: Path) -> None:
    before, after = _stored(tmp_path, "k1"), _stored(tmp_path, "k2")
    outcomes = [
        Outcome(0, 0.5, 0.6, 201, {"id": before}),
        Outcome(1, 2.0, 2.5, 503, DOWN),
        Outcome(2, 3.6, 3.7, 201, {"id": after}),
    ]
    result = _checked(tmp_path, outcomes, [before])
    assert result.ok, result.failed_checks()
    assert list(result.checks) == [
        "calls were made while it was down",
        "503 in the envelope while down",
        "no 500 at any time",
        "no call hangs beyond the deadline",
        "calls succeed after its return",
        "recovery within 1 s",
        "no order acknowledged before the stop lost",
        "no acknowledged order lost",
        "no order charged twice",
        "no charge without its order",
        "every PENDING order finalized",
    ]
    assert (result.sent, result.succeeded, result.failed) == (3, 2, {"503/UNAVAILABLE": 1})
    assert result.recovery_s == 0.0 and result.lost == 0
    assert result.figures == {
        "max_latency_while_down_s": 0.5,
        "orders_stored": 2,
        "orders_paid": 2,
        "charges_recorded": 2,
    }


def test_an_outage_that_broke_its_promises(tmp_path: Path) -> None:
    kept = _stored(tmp_path, "k1")
    outcomes = [
        Outcome(0, 0.5, 0.6, 201, {"id": "lost-before"}),
        Outcome(1, 2.0, 4.5, 500, {}),  # a 500 without the envelope, and a hang
        Outcome(2, 3.6, 4.8, 503, DOWN),  # still failing 1.3 s after the repair
        Outcome(3, 4.9, 5.0, 201, {"id": kept}),
    ]
    result = _checked(tmp_path, outcomes, ["lost-before"])
    assert result.failed_checks() == [
        "503 in the envelope while down",
        "no 500 at any time",
        "no call hangs beyond the deadline",
        "recovery within 1 s",
        "no order acknowledged before the stop lost",
        "no acknowledged order lost",
    ]
    assert result.lost == 1
