"""Benchmark DjangoRecordStorer against raw ``sqlite3`` on the same rows.

Run it with ``cd /work/main && .venv/bin/python bench/storer.py [--records N]``.

Django is configured here with a SQLite database *file* in a temporary
directory; the raw baseline uses a second file in the same directory, created
with the very same tables and indexes (copied from the Django database's
schema) and filled with the very same rows. Both sides use SQLite's default
settings, so neither gets an in-memory or a no-fsync advantage.

For both kinds of records — typed (dataclasses as JSON in ``Record``) and
model-backed (``tests.testapp.models.Student``) — it measures, in this run:

(a) Loading all N records (default 100 000). Ours: ``get_records()``, which
    builds the records and their snapshot. Raw: ``SELECT`` the same columns of
    the same rows and ``fetchall()``. Target: ours / raw <= 8.
(b) Storing the N records after 10% of them changed. Ours: ``set_records()``
    with a run bound, so it also writes one ``RecordChange`` per changed
    record. Raw: one ``executemany`` upsert of all N rows, already serialised,
    in a single transaction — what storing N records costs when nothing is
    known about what changed. Target: ours / raw <= 4. For context, the raw
    upsert of only the changed rows is printed too.

Each figure is the median of several repetitions; absolute times are context
only. The exit code is 0 whether or not a target is met: read PASS/FAIL.
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django
from django.conf import settings

LOAD_TARGET = 8.0
STORE_TARGET = 4.0
CHANGED_FRACTION = 0.10
REPEATS = 5


@dataclass
class Member:
    """The typed record of the benchmark: about the size of a roster entry."""

    netid: str
    name: str
    email: str
    github: str
    section: str
    groups: list[str] = field(default_factory=list)


def configure_django(directory: Path) -> None:
    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        SECRET_KEY="adminflow-bench",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "adminflow",
            "tests.testapp",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(directory / "django.sqlite3"),
            }
        },
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def raw_database(directory: Path, tables: Sequence[str]) -> sqlite3.Connection:
    """Return a connection to a second file with exactly the Django tables' schema."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL")
        schema = [sql for table, sql in cursor.fetchall() if table in tables]
    raw = sqlite3.connect(directory / "raw.sqlite3", isolation_level=None)
    for statement in schema:
        raw.execute(statement)
    return raw


def timed(action: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Return how long ``action(*args)`` took, in seconds, and what it returned."""
    gc.collect()
    started = time.perf_counter()
    result = action(*args)
    return time.perf_counter() - started, result


def members(count: int) -> list[Member]:
    return [
        Member(
            f"n{i:06d}",
            f"Student {i}",
            f"n{i:06d}@example.edu",
            f"gh-{i}",
            f"S{i % 20:02d}",
            ["lab", f"team-{i % 300}"],
        )
        for i in range(count)
    ]


class Case:
    """One kind of record: how to seed, load, change and raw-copy it."""

    name: str
    table: str
    raw_select: str
    raw_upsert: str

    def __init__(self, count: int) -> None:
        from adminflow.engine import Configs
        from adminflow.models import Flow, FlowRun
        from adminflow.states import FlowRunStatus, Trigger

        self.count = count
        self.storer_class = self.make_storer_class()
        flow = Flow.objects.create(name=f"bench-{self.name}")
        self.run = FlowRun.objects.create(
            flow=flow, status=FlowRunStatus.RUNNING, trigger=Trigger.COMMAND
        )
        self.configs = Configs({})

    def storer(self) -> Any:
        storer = self.storer_class(self.configs)
        storer.bind("bench", self.name, self.run)
        return storer


class TypedCase(Case):
    name = "typed"
    table = "adminflow_record"
    raw_select = (
        "SELECT key, data FROM adminflow_record WHERE collection = ? ORDER BY collection, key"
    )
    raw_upsert = (
        "INSERT INTO adminflow_record (collection, key, data, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (collection, key) "
        "DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at"
    )

    def make_storer_class(self) -> type:
        from adminflow.storage import DjangoRecordStorer

        class BenchMembers(DjangoRecordStorer[Member]):
            record_type = Member
            key = "netid"

        return BenchMembers

    def seed(self) -> None:
        storer = self.storer()
        storer.run = None  # seeding is not part of any measured run
        storer.get_records(print_nothing)
        storer.set_records(members(self.count), print_nothing)

    def select_arguments(self) -> tuple[Any, ...]:
        return ("bench.typed",)

    def raw_rows(self, records: Sequence[Member]) -> list[tuple[Any, ...]]:
        now = "2025-01-01 00:00:00"
        return [("bench.typed", r.netid, json.dumps(r.__dict__), now, now) for r in records]

    def change(self, record: Member, round_: int) -> None:
        record.groups.append(f"round-{round_}")


class ModelCase(Case):
    name = "model"
    table = "testapp_student"
    raw_select = (
        "SELECT id, netid, name, email, github, section, tags FROM testapp_student ORDER BY netid"
    )
    raw_upsert = (
        "INSERT INTO testapp_student (id, netid, name, email, github, section, tags) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET netid = excluded.netid, "
        "name = excluded.name, email = excluded.email, github = excluded.github, "
        "section = excluded.section, tags = excluded.tags"
    )

    def make_storer_class(self) -> type:
        from adminflow.storage import DjangoRecordStorer
        from tests.testapp.models import Student

        class BenchRoster(DjangoRecordStorer[Student]):
            model = Student

        return BenchRoster

    def seed(self) -> None:
        from tests.testapp.models import Student

        Student.objects.bulk_create(
            [
                Student(
                    netid=m.netid,
                    name=m.name,
                    email=m.email,
                    github=m.github,
                    section=m.section,
                    tags=m.groups,
                )
                for m in members(self.count)
            ]
        )

    def select_arguments(self) -> tuple[Any, ...]:
        return ()

    def raw_rows(self, records: Sequence[Any]) -> list[tuple[Any, ...]]:
        return [
            (r.pk, r.netid, r.name, r.email, r.github, r.section, json.dumps(r.tags))
            for r in records
        ]

    def change(self, record: Any, round_: int) -> None:
        record.name = f"{record.name} (round {round_})"


def print_nothing(message: str) -> None:
    pass


def measure(case: Case, raw: sqlite3.Connection) -> dict[str, float]:
    """Return the median seconds of each measured operation for one kind of record."""
    case.seed()
    records = case.storer().get_records(print_nothing)
    raw.execute("BEGIN")
    raw.executemany(case.raw_upsert, case.raw_rows(records))
    raw.execute("COMMIT")

    times: dict[str, list[float]] = {
        name: [] for name in ("load", "raw load", "store", "raw store", "raw store changed")
    }
    changed_count = int(case.count * CHANGED_FRACTION)
    for round_ in range(REPEATS):
        seconds, _rows = timed(raw_select, raw, case.raw_select, case.select_arguments())
        times["raw load"].append(seconds)
        storer = case.storer()
        seconds, records = timed(storer.get_records, print_nothing)
        times["load"].append(seconds)
        # Every tenth record changes, spread over the whole list.
        changed = records[:: int(1 / CHANGED_FRACTION)][:changed_count]
        for record in changed:
            case.change(record, round_)
        all_rows = case.raw_rows(records)
        changed_rows = case.raw_rows(changed)
        times["store"].append(timed(storer.set_records, records, print_nothing)[0])
        assert storer.last_store_counts.changed == changed_count, storer.last_store_counts
        times["raw store"].append(timed(raw_upsert, raw, case.raw_upsert, all_rows)[0])
        times["raw store changed"].append(timed(raw_upsert, raw, case.raw_upsert, changed_rows)[0])
    return {name: statistics.median(values) for name, values in times.items()}


def raw_select(raw: sqlite3.Connection, sql: str, arguments: Sequence[Any]) -> list[Any]:
    return raw.execute(sql, arguments).fetchall()


def raw_upsert(raw: sqlite3.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    raw.execute("BEGIN")
    raw.executemany(sql, rows)
    raw.execute("COMMIT")


def report(name: str, count: int, results: dict[str, float]) -> list[bool]:
    verdicts = []
    rows = [
        (f"load {count:,}", results["load"], results["raw load"], LOAD_TARGET),
        (
            f"store {count:,}, {CHANGED_FRACTION:.0%} changed",
            results["store"],
            results["raw store"],
            STORE_TARGET,
        ),
    ]
    for label, ours, raw, target in rows:
        ratio = ours / raw
        verdicts.append(ratio <= target)
        print(
            f"{name:<6} {label:<28} {ratio:>6.2f}x  (target <= {target:.0f}x)  "
            f"{'PASS' if ratio <= target else 'FAIL'}   ours {ours * 1000:8.1f} ms, "
            f"raw {raw * 1000:7.1f} ms"
        )
    print(
        f"{'':<6} {'(context) raw upsert of only the changed rows':<28}: "
        f"{results['raw store changed'] * 1000:.1f} ms; ours / that = "
        f"{results['store'] / results['raw store changed']:.2f}x"
    )
    return verdicts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records per kind")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="adminflow-bench-") as directory:
        configure_django(Path(directory))
        raw = raw_database(Path(directory), [TypedCase.table, ModelCase.table])
        print(
            f"DjangoRecordStorer vs raw sqlite3 executemany, {args.records:,} records, "
            f"SQLite {sqlite3.sqlite_version} files in {directory}; median of {REPEATS}",
            flush=True,
        )
        verdicts = []
        for case_class in (TypedCase, ModelCase):
            case = case_class(args.records)
            verdicts += report(case.name, args.records, measure(case, raw))
        raw.close()
    print("all targets met" if all(verdicts) else "some targets missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
