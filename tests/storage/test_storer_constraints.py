"""DjangoRecordStorer and the constraints of a host site's model.

A store succeeds whenever the state it leaves satisfies the model's unique
constraints, however the values moved between records (swaps, rotations),
and fails, naming the records and the constraint and writing nothing, only
when that state itself breaks one. A record needs a key: one without is
refused at store, and a row without one is left out at load, named in the log.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError

from adminflow import AdminFlow
from adminflow.engine import Configs
from adminflow.models import RecordChange, RunLog
from adminflow.runs import execute_run, start_run
from adminflow.states import FlowRunStatus, Trigger
from adminflow.storage import DjangoRecordStorer, RecordError, StoreConflict, StoreCounts
from tests.engine.helpers import record_step, update_step
from tests.factories import FlowRunFactory, SeatFactory
from tests.testapp.models import Badge, Seat


class Seats(DjangoRecordStorer[Seat]):
    description = "Lab seats."
    model = Seat


class SeatsByCode(DjangoRecordStorer[Seat]):
    model = Seat
    key_field = "code"


class RoomR1(DjangoRecordStorer[Seat]):
    model = Seat

    def get_queryset(self) -> Any:
        return super().get_queryset().filter(room="R1")


class Badges(DjangoRecordStorer[Badge]):
    description = "Building badges, by number."
    model = Badge
    key_field = "number"


class Log(list[str]):
    """A logger that keeps what it is told."""

    def __call__(self, message: str) -> None:
        self.append(message)


def make(storer_class: type[DjangoRecordStorer[Any]], run: Any = None) -> DjangoRecordStorer[Any]:
    storer = storer_class(Configs({}))
    storer.bind("course", "seats", run)
    return storer


def seats() -> dict[str, tuple[Any, ...]]:
    """Return each seat's code, locker, room and desk by its holder."""
    rows = Seat.objects.values_list("holder", "code", "locker", "room", "desk")
    return {holder: tuple(rest) for holder, *rest in rows}


def audit() -> list[tuple[str, str, Any, Any]]:
    rows = RecordChange.objects.order_by("key").values_list("key", "action", "before", "after")
    return list(rows)


def seated(*specs: tuple[str, str, int | None, str, int]) -> dict[str, Seat]:
    """Create seats (holder, code, locker, room, desk); return them by holder."""
    return {
        holder: SeatFactory(holder=holder, code=code, locker=locker, room=room, desk=desk)
        for holder, code, locker, room, desk in specs
    }


def loaded(storer: DjangoRecordStorer[Any]) -> dict[str, Seat]:
    return {record.holder: record for record in storer.get_records(Log())}


# Swaps and rotations: legal at the end, stored


@pytest.mark.django_db
def test_two_records_swap_a_unique_code():
    before = seated(("ada", "A", 1, "R1", 1), ("bo", "B", 2, "R1", 2))
    storer = make(Seats, FlowRunFactory())
    records = loaded(storer)
    records["ada"].code, records["bo"].code = "B", "A"
    storer.set_records(list(records.values()), Log())

    assert seats() == {"ada": ("B", 1, "R1", 1), "bo": ("A", 2, "R1", 2)}
    assert storer.last_store_counts == StoreCounts(added=0, changed=2, removed=0, unchanged=0)
    assert audit() == sorted(
        [
            (str(before["ada"].pk), "changed", {"code": "A"}, {"code": "B"}),
            (str(before["bo"].pk), "changed", {"code": "B"}, {"code": "A"}),
        ]
    )


@pytest.mark.django_db
def test_two_records_swap_two_unique_fields_at_once():
    # The code is required (parked on a free text value), the locker optional (parked on NULL).
    seated(("ada", "A", 1, "R1", 1), ("bo", "B", 2, "R1", 2), ("cy", "C", None, "R1", 3))
    storer = make(Seats)
    records = loaded(storer)
    ada, bo = records["ada"], records["bo"]
    (ada.code, ada.locker), (bo.code, bo.locker) = ("B", 2), ("A", 1)
    storer.set_records(list(records.values()), Log())

    assert seats() == {
        "ada": ("B", 2, "R1", 1),
        "bo": ("A", 1, "R1", 2),
        "cy": ("C", None, "R1", 3),
    }


@pytest.mark.django_db
def test_three_records_rotate_a_unique_code_and_locker():
    seated(("ada", "A", 1, "R1", 1), ("bo", "B", 2, "R1", 2), ("cy", "C", 3, "R1", 3))
    storer = make(Seats)
    records = loaded(storer)
    for holder, (code, locker) in {"ada": ("B", 2), "bo": ("C", 3), "cy": ("A", 1)}.items():
        records[holder].code, records[holder].locker = code, locker
    storer.set_records(list(records.values()), Log())

    assert seats() == {
        "ada": ("B", 2, "R1", 1),
        "bo": ("C", 3, "R1", 2),
        "cy": ("A", 1, "R1", 3),
    }


@pytest.mark.django_db
def test_records_swap_places_under_a_composite_unique_constraint():
    # (room, desk) is unique together: ada and bo swap desks in R1; cy and dee swap rooms.
    seated(
        ("ada", "A", 1, "R1", 1),
        ("bo", "B", 2, "R1", 2),
        ("cy", "C", 3, "R1", 3),
        ("dee", "D", 4, "R2", 3),
    )
    storer = make(Seats)
    records = loaded(storer)
    records["ada"].desk, records["bo"].desk = 2, 1
    records["cy"].room, records["dee"].room = "R2", "R1"
    storer.set_records(list(records.values()), Log())

    assert seats() == {
        "ada": ("A", 1, "R1", 2),
        "bo": ("B", 2, "R1", 1),
        "cy": ("C", 3, "R2", 3),
        "dee": ("D", 4, "R1", 3),
    }


@pytest.mark.django_db
def test_swapped_keys_are_a_change_of_what_each_key_holds():
    # Records are matched by key: after two seats swap codes, seat "A" holds what "B" held
    # (bo, locker 2, desk 2), lockers and desks included, and "B" what "A" held.
    seated(("ada", "A", 1, "R1", 1), ("bo", "B", 2, "R1", 2))
    storer = make(SeatsByCode)
    records = loaded(storer)
    records["ada"].code, records["bo"].code = "B", "A"
    storer.set_records(list(records.values()), Log())

    assert seats() == {"bo": ("A", 2, "R1", 2), "ada": ("B", 1, "R1", 1)}
    assert set(Seat.objects.values_list("code", "holder")) == {("A", "bo"), ("B", "ada")}
    assert storer.last_store_counts == StoreCounts(added=0, changed=2, removed=0, unchanged=0)


# A final state that breaks a constraint: refused, named, nothing written


@pytest.mark.django_db
def test_two_records_ending_with_one_code_are_refused_and_nothing_is_written():
    before = seated(
        ("ada", "A", 1, "R1", 1),
        ("bo", "B", 2, "R1", 2),
        ("cy", "C", 3, "R1", 3),
        ("dee", "D", 4, "R1", 4),
    )
    table = seats()
    storer = make(Seats, FlowRunFactory())
    records = loaded(storer)
    # A legal swap of lockers (parked before the clash) goes back with the rest.
    records["cy"].locker, records["dee"].locker = 4, 3
    records["ada"].code = "B"
    with pytest.raises(StoreConflict) as excinfo:
        storer.set_records(list(records.values()), Log())

    assert str(excinfo.value) == (
        "storer 'seats' (Seats) of flow 'course': the records break a unique constraint of "
        "testapp.Seat, so nothing was stored: unique field 'code': code='B' would be held by "
        f"record {before['ada'].pk} and record {before['bo'].pk}"
    )
    assert isinstance(excinfo.value, RecordError)
    assert isinstance(excinfo.value, IntegrityError)
    assert seats() == table
    assert not RecordChange.objects.exists()
    assert storer.last_store_counts is None


@pytest.mark.django_db
def test_a_clash_with_a_row_outside_the_records_is_named():
    outside = seated(("eve", "E", 5, "R2", 5))["eve"]
    seated(("ada", "A", 1, "R1", 1))
    table = seats()
    storer = make(RoomR1, FlowRunFactory())
    records = list(loaded(storer).values())
    new = Seat(code="N", room="R2", desk=5, holder="new")
    with pytest.raises(StoreConflict) as excinfo:
        storer.set_records([*records, new], Log())

    assert str(excinfo.value) == (
        "storer 'seats' (RoomR1) of flow 'course': the records break a unique constraint of "
        "testapp.Seat, so nothing was stored: unique constraint 'testapp_seat_room_desk' "
        "(room, desk): room='R2', desk=5 would be held by new record <Seat: N> and "
        f"row {outside.pk}, which is not one of them"
    )
    assert seats() == table
    assert not RecordChange.objects.exists()


# Records without a key


@pytest.mark.django_db
def test_a_record_without_a_key_is_refused_at_store(django_assert_num_queries):
    Badge.objects.create(number="B1", holder="ada")
    storer = make(Badges, FlowRunFactory())
    [issued] = storer.get_records(Log())
    issued.holder = "changed"
    with django_assert_num_queries(0), pytest.raises(RecordError) as excinfo:
        storer.set_records([issued, Badge(holder="bo")], Log())
    assert str(excinfo.value) == (
        "storer 'seats' (Badges) of flow 'course': record 1 has no key (number is None): "
        "<Badge: badge None (no number)> (pk None)"
    )

    issued.number = None
    with django_assert_num_queries(0), pytest.raises(RecordError) as excinfo:
        storer.set_records([issued], Log())
    assert str(excinfo.value) == (
        "storer 'seats' (Badges) of flow 'course': record 0 has no key (number is None): "
        f"<Badge: badge {issued.pk} (no number)> (pk {issued.pk})"
    )
    assert list(Badge.objects.values_list("number", "holder")) == [("B1", "ada")]
    assert not RecordChange.objects.exists()


@pytest.mark.django_db
def test_a_row_without_a_key_is_left_out_at_load_and_named(django_assert_num_queries):
    unissued = Badge.objects.create(number=None, holder="cy")
    Badge.objects.create(number="B1", holder="ada")
    storer = make(Badges, FlowRunFactory())
    log = Log()
    with django_assert_num_queries(1):
        [issued] = storer.get_records(log)
    assert issued.number == "B1"
    assert log == [
        f"left out 1 (pk {unissued.pk}) of testapp.Badge: their number is NULL, and a row "
        "without a key cannot be a record",
        "loaded 1 records from testapp.Badge",
    ]
    issued.holder = "ada l."
    storer.set_records([issued, Badge(number="B2", holder="bo")], Log())
    assert sorted(Badge.objects.values_list("pk", "number", "holder")) == [
        (unissued.pk, None, "cy"),
        (issued.pk, "B1", "ada l."),
        (issued.pk + 1, "B2", "bo"),
    ]


# Through recorded runs


def swap_first_two(**values: tuple[Any, Any]) -> Any:
    """Return an update step function giving the first two seats each other's ``values``."""

    def swap(call: Any) -> None:
        first, second = (record for record, _lock in call.records[:2])
        for name, (one, other) in values.items():
            setattr(first, name, one)
            setattr(second, name, other)

    return swap


def seating_flow(swap: Any) -> AdminFlow:
    flow = AdminFlow("seating", "reseats the lab", Seats, "seats")
    flow.add_update_step("swap", update_step(swap))
    return flow


@pytest.mark.django_db(transaction=True)
def test_a_run_that_swaps_unique_values_between_seats_succeeds(register):
    seated(("ada", "A", 1, "R1", 1), ("bo", "B", 2, "R1", 2))
    register(seating_flow(swap_first_two(code=("B", "A"), locker=(2, 1), desk=(2, 1))))

    run = execute_run(start_run("seating", trigger=Trigger.COMMAND))

    assert run.status == FlowRunStatus.SUCCEEDED, run.error
    assert seats() == {"ada": ("B", 2, "R1", 2), "bo": ("A", 1, "R1", 1)}
    assert (run.records_changed, run.record_changes.count()) == (2, 2)


@pytest.mark.django_db(transaction=True)
def test_a_run_that_leaves_two_seats_one_code_fails_and_stores_nothing(register):
    before = seated(("ada", "A", 1, "R1", 1), ("bo", "B", 2, "R1", 2))
    table = seats()
    register(seating_flow(swap_first_two(code=("C", "C"), locker=(2, 1))))

    run = execute_run(start_run("seating", trigger=Trigger.COMMAND))

    assert run.status == FlowRunStatus.FAILED
    assert (
        "storer 'seats' (Seats) of flow 'seating': the records break a unique constraint of "
        "testapp.Seat, so nothing was stored: unique field 'code': code='C' would be held by "
        f"record {before['ada'].pk} and record {before['bo'].pk}"
    ) in run.error
    assert seats() == table
    assert not RecordChange.objects.exists()


def badge_flow(step: Any) -> AdminFlow:
    flow = AdminFlow("badges", "issues badges", Badges, "badges")
    flow.add_record_step("issue", record_step(step))
    return flow


@pytest.mark.django_db(transaction=True)
def test_runs_after_a_row_without_a_key_succeed_and_say_what_they_left_out(register):
    unissued = Badge.objects.create(number=None, holder="cy")
    Badge.objects.create(number="B1", holder="ada")
    register(badge_flow(lambda call: None))

    for _ in range(2):
        run = execute_run(start_run("badges", trigger=Trigger.COMMAND))
        assert run.status == FlowRunStatus.SUCCEEDED, run.error
        assert run.records_loaded == 1
        assert RunLog.objects.filter(
            run=run,
            message=f"left out 1 (pk {unissued.pk}) of testapp.Badge: their number is NULL, "
            "and a row without a key cannot be a record",
        ).exists()
    assert sorted(Badge.objects.values_list("number", "holder"), key=str) == [
        ("B1", "ada"),
        (None, "cy"),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_run_that_adds_a_record_without_a_key_fails_and_stores_nothing(register):
    Badge.objects.create(number="B1", holder="ada")
    register(badge_flow(lambda call: [*call.records, Badge(holder="bo")]))

    run = execute_run(start_run("badges", trigger=Trigger.COMMAND))

    assert run.status == FlowRunStatus.FAILED
    assert (
        "storer 'badges' (Badges) of flow 'badges': record 1 has no key (number is None): "
        "<Badge: badge None (no number)> (pk None)"
    ) in run.error
    assert list(Badge.objects.values_list("number", "holder")) == [("B1", "ada")]
    assert not RecordChange.objects.exists()
