"""DjangoRecordStorer: loading in one query, storing the difference in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from django.db import IntegrityError

from adminflow import AdminFlow, AdminRecordStep, FlowConfigError, RecordStorer, RunStatus
from adminflow.engine import Configs
from adminflow.models import Record, RecordChange
from adminflow.storage import (
    DjangoRecordStorer,
    RecordError,
    StoreCounts,
    StorerDeclarationError,
    bind_storer,
)
from tests.factories import FlowRunFactory, StudentFactory
from tests.testapp.models import Student

pytestmark = pytest.mark.django_db


@dataclass
class Member:
    """A typed record: what a flow keeps about a student that the site has no model for."""

    netid: str
    name: str
    groups: list[str] = field(default_factory=list)
    joined: date | None = None


class Roster(DjangoRecordStorer[Student]):
    model = Student


class SectionA(DjangoRecordStorer[Student]):
    model = Student

    def get_queryset(self) -> Any:
        return super().get_queryset().filter(section="A")


class RosterByNetid(DjangoRecordStorer[Student]):
    model = Student
    key_field = "netid"


class Members(DjangoRecordStorer[Member]):
    record_type = Member
    key = "netid"
    collection = "course.members"


class Log(list[str]):
    """A logger that keeps what it is told."""

    def __call__(self, message: str) -> None:
        self.append(message)


def make(storer_class: type[DjangoRecordStorer[Any]], run: Any = None) -> DjangoRecordStorer[Any]:
    storer = storer_class(Configs({}))
    storer.bind("course", "roster", run)
    return storer


def table() -> list[tuple[Any, ...]]:
    """Return every student row, to compare before and after a store."""
    return list(Student.objects.order_by("pk").values_list())


def changes() -> list[tuple[str, str, str, Any, Any]]:
    return list(
        RecordChange.objects.order_by("action", "key").values_list(
            "collection", "key", "action", "before", "after"
        )
    )


# Model-backed records


def test_model_records_load_in_one_query(django_assert_num_queries):
    students = StudentFactory.create_batch(3)
    storer = make(Roster)
    log = Log()
    with django_assert_num_queries(1):
        records = storer.get_records(log)
    assert records == students
    assert log == ["loaded 3 records from testapp.Student"]


def test_get_queryset_narrows_what_is_loaded_and_removed():
    a1, a2 = StudentFactory.create_batch(2, section="A")
    b1 = StudentFactory(section="B")
    storer = make(SectionA)
    records = storer.get_records(Log())
    assert records == [a1, a2]
    storer.set_records([a1], Log())
    assert list(Student.objects.all()) == [a1, b1]
    assert storer.last_store_counts == StoreCounts(added=0, changed=0, removed=1, unchanged=1)


def test_added_changed_removed_and_in_place_changes_are_stored_and_audited():
    kept, renamed, tagged, dropped = StudentFactory.create_batch(4)
    run = FlowRunFactory()
    storer = make(Roster, run)
    records = storer.get_records(Log())
    # Steps change the very objects that were loaded, in place, containers included.
    records[1].name = "Renamed"
    records[1].github = "renamed-gh"
    records[2].tags.append("late")
    new = Student(netid="new01", name="New Student", email="new01@example.edu")
    log = Log()
    storer.set_records([records[0], records[1], records[2], new], log)

    assert list(Student.objects.values_list("netid", "name", "github", "tags")) == [
        ("new01", "New Student", "", []),
        (kept.netid, kept.name, "", []),
        (renamed.netid, "Renamed", "renamed-gh", []),
        (tagged.netid, tagged.name, "", ["late"]),
    ]
    assert new.pk is not None
    assert storer.last_store_counts == StoreCounts(added=1, changed=2, removed=1, unchanged=1)
    assert storer.last_store_counts.run_fields() == {
        "records_added": 1,
        "records_changed": 2,
        "records_removed": 1,
        "records_stored": 4,
        # The audit in counts, kept on the run for its page: by kind, and by changed field.
        "change_summary": {
            "added": 1,
            "removed": 1,
            "returned": 0,
            "changed": 2,
            "fields": {"github": 1, "name": 1, "tags": 1},
        },
    }
    assert log == [
        "stored 4 records in testapp.Student: 1 added, 2 changed, 1 removed, 1 unchanged"
    ]
    assert RecordChange.objects.filter(run=run).count() == 4
    assert changes() == [
        (
            "testapp.Student",
            str(new.pk),
            "added",
            None,
            {
                "id": new.pk,
                "netid": "new01",
                "name": "New Student",
                "email": "new01@example.edu",
                "github": "",
                "section": "",
                "tags": [],
            },
        ),
        (
            "testapp.Student",
            str(renamed.pk),
            "changed",
            {"name": renamed.name, "github": ""},
            {"name": "Renamed", "github": "renamed-gh"},
        ),
        ("testapp.Student", str(tagged.pk), "changed", {"tags": []}, {"tags": ["late"]}),
        (
            "testapp.Student",
            str(dropped.pk),
            "removed",
            {
                "id": dropped.pk,
                "netid": dropped.netid,
                "name": dropped.name,
                "email": dropped.email,
                "github": "",
                "section": "A",
                "tags": [],
            },
            None,
        ),
    ]


def test_changes_deep_inside_a_container_field_are_detected():
    StudentFactory(tags=[{"labs": ["lab1"]}, "plain"])
    storer = make(Roster)
    [record] = storer.get_records(Log())
    record.tags[0]["labs"].append("lab2")
    storer.set_records([record], Log())
    assert Student.objects.get().tags == [{"labs": ["lab1", "lab2"]}, "plain"]
    assert storer.last_store_counts == StoreCounts(added=0, changed=1, removed=0, unchanged=0)


def test_only_changed_fields_are_written():
    student = StudentFactory(name="Old", email="old@example.edu")
    storer = make(Roster)
    [record] = storer.get_records(Log())
    # Another writer changes a column between this run's load and its store...
    Student.objects.filter(pk=student.pk).update(email="theirs@example.edu")
    record.name = "New"
    storer.set_records([record], Log())
    # ...and keeps it: this run changed only the name.
    student.refresh_from_db()
    assert (student.name, student.email) == ("New", "theirs@example.edu")


def test_nothing_changed_writes_nothing(django_assert_num_queries):
    StudentFactory.create_batch(3)
    storer = make(Roster, FlowRunFactory())
    records = storer.get_records(Log())
    with django_assert_num_queries(0):
        storer.set_records(records, Log())
    assert storer.last_store_counts == StoreCounts(added=0, changed=0, removed=0, unchanged=3)
    assert not RecordChange.objects.exists()


def test_a_unique_key_field_identifies_records():
    student = StudentFactory(netid="ab123")
    run = FlowRunFactory()
    storer = make(RosterByNetid, run)
    [record] = storer.get_records(Log())
    record.name = "Changed"
    storer.set_records([record, Student(netid="cd456", name="Added")], Log())
    assert list(Student.objects.values_list("netid", "name")) == [
        ("ab123", "Changed"),
        ("cd456", "Added"),
    ]
    assert sorted(RecordChange.objects.values_list("key", "action")) == [
        ("ab123", "changed"),
        ("cd456", "added"),
    ]
    assert RecordChange.objects.get(action="added").after == {
        "netid": "cd456",
        "name": "Added",
        "email": "",
        "github": "",
        "section": "",
        "tags": [],
    }
    assert student.pk == Student.objects.get(netid="ab123").pk


def test_without_a_bound_run_records_are_stored_but_not_audited():
    StudentFactory()
    storer = Roster(Configs({}))
    [record] = storer.get_records(Log())
    record.name = "Changed"
    storer.set_records([record], Log())
    assert Student.objects.get().name == "Changed"
    assert not RecordChange.objects.exists()


def test_a_failure_midway_leaves_the_table_and_the_audit_as_they_were():
    StudentFactory.create_batch(2, section="A")
    other = StudentFactory(section="B")
    before = table()
    storer = make(SectionA, FlowRunFactory())
    first, _second = storer.get_records(Log())
    first.name = "Changed"
    # Deleting `_second` and updating `first` run before this insert breaks the unique netid.
    clash = Student(netid=other.netid, name="Clash")
    with pytest.raises(IntegrityError):
        storer.set_records([first, clash], Log())
    assert table() == before
    assert not RecordChange.objects.exists()
    assert storer.last_store_counts is None


def test_debug_mode_writes_nothing_and_says_what_it_would_write(django_assert_num_queries):
    students = StudentFactory.create_batch(8)
    before = table()
    storer = make(Roster, FlowRunFactory())
    records = storer.get_records(Log())
    records[0].name = "Changed"
    records[0].email = "changed@example.edu"
    new = [Student(netid=f"new{i}", name="New") for i in range(7)]
    log = Log()
    with django_assert_num_queries(0):
        storer.set_records([*records[:6], *new], log, debug=True)
    assert table() == before
    assert not RecordChange.objects.exists()
    assert storer.last_store_counts == StoreCounts(
        added=7, changed=1, removed=2, unchanged=5, debug=True
    )
    assert storer.last_store_counts.stored == 0
    assert log == [
        "debug: would add 7 ((new), (new), (new), (new), (new) and 2 more), "
        f"change 1 ({students[0].pk}: name, email), "
        f"remove 2 ({students[6].pk}, {students[7].pk}) in testapp.Student (5 unchanged); "
        "nothing was written"
    ]


# Typed records


def test_typed_records_round_trip_through_the_record_table(django_assert_num_queries):
    run = FlowRunFactory()
    storer = make(Members, run)
    assert storer.get_records(Log()) == []
    members = [
        Member("ab123", "Ada", ["g1"], date(2024, 9, 2)),
        Member("cd456", "Cy"),
    ]
    storer.set_records(members, Log())
    assert list(Record.objects.values_list("collection", "key", "data")) == [
        (
            "course.members",
            "ab123",
            {"netid": "ab123", "name": "Ada", "groups": ["g1"], "joined": "2024-09-02"},
        ),
        ("course.members", "cd456", {"netid": "cd456", "name": "Cy", "groups": [], "joined": None}),
    ]
    with django_assert_num_queries(1):
        assert make(Members).get_records(Log()) == members
    assert sorted(RecordChange.objects.values_list("collection", "key", "action")) == [
        ("course.members", "ab123", "added"),
        ("course.members", "cd456", "added"),
    ]


def test_typed_changes_in_place_and_removals_are_detected():
    seed = make(Members)
    seed.get_records(Log())
    seed.set_records([Member("a", "A"), Member("b", "B", ["g1"]), Member("c", "C")], Log())
    stored_at = dict(Record.objects.values_list("key", "created_at"))

    run = FlowRunFactory()
    storer = make(Members, run)
    a, b, _c = storer.get_records(Log())
    b.groups.append("g2")
    a.joined = date(2025, 1, 6)
    storer.set_records([a, b, Member("d", "D")], Log())

    assert storer.last_store_counts == StoreCounts(added=1, changed=2, removed=1, unchanged=0)
    assert make(Members).get_records(Log()) == [
        Member("a", "A", joined=date(2025, 1, 6)),
        Member("b", "B", ["g1", "g2"]),
        Member("d", "D"),
    ]
    # An upsert keeps the row: its creation time survives, only data and updated_at change.
    assert Record.objects.get(key="b").created_at == stored_at["b"]
    assert changes() == [
        (
            "course.members",
            "d",
            "added",
            None,
            {"netid": "d", "name": "D", "groups": [], "joined": None},
        ),
        ("course.members", "a", "changed", {"joined": None}, {"joined": "2025-01-06"}),
        ("course.members", "b", "changed", {"groups": ["g1"]}, {"groups": ["g1", "g2"]}),
        (
            "course.members",
            "c",
            "removed",
            {"netid": "c", "name": "C", "groups": [], "joined": None},
            None,
        ),
    ]


def test_typed_collection_defaults_to_flow_and_storer_names():
    class Unnamed(DjangoRecordStorer[Member]):
        record_type = Member
        key = "netid"

    storer = make(Unnamed)
    storer.get_records(Log())
    storer.set_records([Member("a", "A")], Log())
    assert list(Record.objects.values_list("collection", "key")) == [("course.roster", "a")]

    with pytest.raises(StorerDeclarationError) as excinfo:
        Unnamed(Configs({})).get_records(Log())
    assert str(excinfo.value) == (
        "storer Unnamed: no collection for its records: set `collection` on the class, "
        "or run the flow through adminflow.runs (or call bind_storer()) so that it "
        "defaults to '<flow>.<storer>'"
    )


def test_a_typed_value_json_cannot_hold_fails_the_whole_store():
    seed = make(Members)
    seed.get_records(Log())
    seed.set_records([Member("a", "A"), Member("b", "B")], Log())
    before = list(Record.objects.values_list())
    storer = make(Members, FlowRunFactory())
    a, b = storer.get_records(Log())
    a.name = "Changed"
    b.groups = [object()]  # type: ignore[list-item]
    with pytest.raises(RecordError) as excinfo:
        storer.set_records([a, b], Log())
    assert str(excinfo.value) == (
        "storer 'roster' (Members) of flow 'course': record 'b': field 'groups' cannot be "
        "stored as JSON: Object of type object is not JSON serializable"
    )
    assert list(Record.objects.values_list()) == before
    assert not RecordChange.objects.exists()


def test_stored_data_that_no_longer_fits_the_record_type_is_named():
    Record.objects.create(collection="course.members", key="a", data={"netid": "a", "nick": "x"})
    with pytest.raises(RecordError) as excinfo:
        make(Members).get_records(Log())
    assert str(excinfo.value).startswith(
        "storer 'roster' (Members) of flow 'course': record 'a' of collection "
        "'course.members' does not fit Member: "
    )


# Query counts


def seed_students(count: int) -> Roster:
    StudentFactory.reset_sequence()
    Student.objects.bulk_create(StudentFactory.build_batch(count))
    return make(Roster, FlowRunFactory())


def store_with_changes(storer: Roster, changes_each: int) -> list[Student]:
    """Load, then change, drop and add ``changes_each`` records each."""
    records = storer.get_records(Log())
    for record in records[:changes_each]:
        record.name += " (changed)"
    added = [Student(netid=f"new{i:05d}", name="New") for i in range(changes_each)]
    return records[: len(records) - changes_each] + added


@pytest.mark.parametrize("count", [10, 1000])
def test_store_queries_do_not_grow_with_the_number_of_records(count, django_assert_max_num_queries):
    # 5% of the records each are changed, dropped and added: at 1000 records every kind
    # of record statement still fits one batch, even under SQLite's 999-parameter limit;
    # the audit's 150 rows of 7 values take two there. One query more finds the added
    # records an earlier run removed (re-enrolled ones).
    storer = seed_students(count)
    rec_list = store_with_changes(storer, max(1, count // 20))
    with django_assert_max_num_queries(8):
        storer.set_records(rec_list, Log())
    assert RecordChange.objects.count() == 3 * max(1, count // 20)


@pytest.mark.parametrize("count", [10, 1000])
def test_typed_queries_do_not_grow_with_the_number_of_records(count, django_assert_max_num_queries):
    seed = make(Members)
    seed.get_records(Log())
    seed.set_records([Member(f"m{i:05d}", "M") for i in range(count)], Log())
    storer = make(Members, FlowRunFactory())
    with django_assert_max_num_queries(1):
        records = storer.get_records(Log())
    each = max(1, count // 20)
    for record in records[:each]:
        record.groups.append("g")
    rec_list = records[: count - each] + [Member(f"new{i}", "N") for i in range(each)]
    # As for model-backed records: the audit in two INSERTs on SQLite, and the re-enrolled.
    with django_assert_max_num_queries(8):
        storer.set_records(rec_list, Log())
    assert RecordChange.objects.count() == 3 * each


def test_statements_hold_store_batch_size_rows(settings, django_assert_num_queries):
    settings.ADMINFLOW = {"STORE_BATCH_SIZE": 10}
    storer = seed_students(200)
    rec_list = store_with_changes(storer, 50)
    # savepoint + 5 deletes + 5 upserts + 5 inserts + 5 looks for re-enrolled records
    # + 15 audit inserts + release
    with django_assert_num_queries(37):
        storer.set_records(rec_list, Log())
    assert Student.objects.count() == 200


# Bad input


def test_a_record_of_the_wrong_type_is_refused_before_anything_is_written(
    django_assert_num_queries,
):
    StudentFactory()
    storer = make(Roster, FlowRunFactory())
    [record] = storer.get_records(Log())
    record.name = "Changed"
    with django_assert_num_queries(0), pytest.raises(RecordError) as excinfo:
        storer.set_records([record, Member("a", "A")], Log())
    assert str(excinfo.value) == (
        "storer 'roster' (Roster) of flow 'course': record 1 is a Member "
        "(Member(netid='a', name='A', groups=[], joined=None)); expected a testapp.Student instance"
    )
    assert Student.objects.get().name != "Changed"


def test_a_key_twice_in_the_records_is_refused(django_assert_num_queries):
    storer = make(Members)
    storer.get_records(Log())
    with django_assert_num_queries(0), pytest.raises(RecordError) as excinfo:
        storer.set_records([Member("a", "A"), Member("a", "B")], Log())
    assert str(excinfo.value) == (
        "storer 'roster' (Members) of flow 'course': key 'a' is in the records more than once"
    )


def test_a_typed_record_without_a_key_is_refused(django_assert_num_queries):
    storer = make(Members)
    storer.get_records(Log())
    with django_assert_num_queries(0), pytest.raises(RecordError) as excinfo:
        storer.set_records([Member("a", "A"), Member(None, "B")], Log())  # type: ignore[arg-type]
    assert str(excinfo.value) == (
        "storer 'roster' (Members) of flow 'course': record 1 has no key (netid is None)"
    )


def test_storing_before_loading_is_refused():
    with pytest.raises(RecordError, match=r"call get_records\(\) first"):
        make(Roster).set_records([], Log())


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        (
            {},
            "storer Broken: set either `model` (records are model instances) or `record_type` "
            "and `key` (typed records kept in adminflow's Record table)",
        ),
        (
            {"model": Student, "record_type": Member, "key": "netid"},
            "storer Broken: set either `model` (records are model instances) or `record_type` "
            "and `key` (typed records kept in adminflow's Record table), not both",
        ),
        (
            {"model": Member},
            f"storer Broken: model must be a Django model class, not {Member!r}",
        ),
        (
            {"model": Student, "key_field": "name"},
            "storer Broken: key_field 'name' must name a unique field of testapp.Student "
            "(or be None for the primary key)",
        ),
        (
            {"record_type": Member},
            "storer Broken: key must name a field of Member (one of: netid, name, groups, "
            "joined), not None",
        ),
        (
            {"record_type": Student, "key": "netid"},
            f"storer Broken: record_type must be a dataclass, not {Student!r}",
        ),
    ],
)
def test_a_storer_that_does_not_say_what_its_records_are_is_refused(attributes, message):
    broken = type("Broken", (DjangoRecordStorer,), attributes)
    with pytest.raises(StorerDeclarationError) as excinfo:
        broken(Configs({}))
    assert str(excinfo.value) == message
    # The engine reports it when the flow is configured, under the storer's name.
    flow = AdminFlow("broken", "a flow with a broken storer", broken, "roster")
    with pytest.raises(FlowConfigError) as excinfo:
        flow.with_config({})
    assert str(excinfo.value) == f"flow 'broken': roster: {message}"


def test_get_queryset_of_another_model_is_refused():
    class Wrong(Roster):
        def get_queryset(self) -> Any:
            return Record.objects.all()

    with pytest.raises(StorerDeclarationError) as excinfo:
        make(Wrong).get_records(Log())
    assert str(excinfo.value) == (
        "storer 'roster' (Wrong) of flow 'course': get_queryset() returned adminflow.Record "
        "rows; expected testapp.Student rows"
    )


# Through the engine


class Enrol(AdminRecordStep[Member]):
    description = "Add one member."

    def new_records(self, curr_records, logger, set_metadata, debug=False):
        return [*curr_records, Member(f"m{len(curr_records)}", "New")]


class MemberStore(DjangoRecordStorer[Member]):
    description = "Members in the Record table."
    record_type = Member
    key = "netid"


def test_a_bound_flow_run_stores_into_its_collection_and_audits_its_run():
    flow = AdminFlow("enrolment", "enrol members", MemberStore, "members")
    flow.add_record_step("enrol", Enrol)
    configured = flow.with_config({})
    run = FlowRunFactory(flow__name="enrolment")
    bind_storer(configured, run)
    for _ in range(2):
        result = configured.run()
        assert result.status is RunStatus.SUCCEEDED, result.error
    assert list(Record.objects.values_list("collection", "key")) == [
        ("enrolment.members", "m0"),
        ("enrolment.members", "m1"),
    ]
    assert list(RecordChange.objects.filter(run=run).values_list("key", "action")) == [
        ("m0", "added"),
        ("m1", "added"),
    ]
    assert configured.storer.last_store_counts == StoreCounts(
        added=1, changed=0, removed=0, unchanged=1
    )


def test_bind_storer_leaves_other_storers_alone():
    class Plain(RecordStorer[int]):
        def get_records(self, logger):
            return []

        def set_records(self, rec_list, logger):
            pass

    configured = AdminFlow("plain", "plain storer", Plain, "numbers").with_config({})
    bind_storer(configured, FlowRunFactory())
    assert not hasattr(configured.storer, "run")
