"""What a store's changes mean to staff: added, removed, re-enrolled, changed; and their counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from adminflow.engine import Configs
from adminflow.models import RecordChange
from adminflow.storage import DjangoRecordStorer
from tests.factories import FlowRunFactory

pytestmark = pytest.mark.django_db


@dataclass
class Enrolment:
    netid: str
    name: str
    status: str = "in"


class Enrolments(DjangoRecordStorer[Enrolment]):
    record_type = Enrolment
    key = "netid"
    collection = "course.enrolments"
    enrolment_field = "status"
    enrolled_value = "in"


class Plain(Enrolments):
    """The same records, from a storer that declares no enrolment field."""

    enrolment_field = None


def store(storer_class: type[Enrolments], change: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """Load the records, let ``change`` return the list to store; return each key's kind
    and the run's summary."""
    run = FlowRunFactory()
    storer = storer_class(Configs({}))
    storer.bind("course", "enrolments", run)
    records = storer.get_records(lambda line: None)
    storer.set_records(change({r.netid: r for r in records}), lambda line: None)
    kinds = dict(RecordChange.objects.filter(run=run).values_list("key", "kind"))
    assert storer.last_store_counts is not None
    return kinds, storer.last_store_counts.summary


def seed(storer_class: type[Enrolments] = Enrolments) -> None:
    store(
        storer_class,
        lambda _: [Enrolment("ana", "Ana"), Enrolment("bo", "Bo"), Enrolment("cy", "Cy", "out")],
    )


def test_a_drop_by_the_enrolment_field_is_a_removal_and_coming_back_a_reenrolment():
    seed()

    def week2(records: dict[str, Enrolment]) -> list[Enrolment]:
        records["ana"].status = "out"  # dropped
        records["cy"].status = "in"  # back
        records["bo"].name = "Bob"  # renamed
        return [*records.values(), Enrolment("dee", "Dee")]

    kinds, summary = store(Enrolments, week2)

    assert kinds == {"ana": "removed", "cy": "returned", "bo": "changed", "dee": "added"}
    assert summary == {
        "added": 1,
        "removed": 1,
        "returned": 1,
        "changed": 1,
        "fields": {"name": 1},  # the changed records' fields, not the drop's or the return's
    }


def test_without_an_enrolment_field_a_status_change_is_a_change():
    seed(Plain)

    def drop(records: dict[str, Enrolment]) -> list[Enrolment]:
        records["ana"].status = "out"
        return list(records.values())

    kinds, summary = store(Plain, drop)

    assert kinds == {"ana": "changed"}
    assert summary["fields"] == {"status": 1}


def test_a_record_added_back_after_a_run_removed_it_is_reenrolled():
    seed(Plain)
    kinds, _ = store(Plain, lambda records: [records["ana"], records["cy"]])
    assert kinds == {"bo": "removed"}

    kinds, summary = store(Plain, lambda records: [*records.values(), Enrolment("bo", "Bo")])

    assert kinds == {"bo": "returned"}
    assert (summary["added"], summary["returned"]) == (0, 1)


def test_a_store_that_changes_nothing_counts_nothing_and_a_debug_store_counts_nothing():
    seed()
    kinds, summary = store(Enrolments, lambda records: list(records.values()))
    assert kinds == {}
    assert summary == {"added": 0, "removed": 0, "returned": 0, "changed": 0, "fields": {}}

    storer = Enrolments(Configs({}))
    storer.bind("course", "enrolments", FlowRunFactory())
    records = storer.get_records(lambda line: None)
    storer.set_records([*records, Enrolment("eve", "Eve")], lambda line: None, debug=True)
    assert storer.last_store_counts is not None
    assert (storer.last_store_counts.added, storer.last_store_counts.summary) == (1, {})
