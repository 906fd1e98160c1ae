"""Does every step of the course's demo flows stay under 1 s on a 20,000-student roster?

Run it with ``cd /work/main && .venv/bin/python bench/roster_sync.py``: the
course site's own settings (``courseadmin.settings``) on a throwaway SQLite
file in a temporary directory, or on PostgreSQL when ``DATABASE_URL`` is set
(``DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME``: the bench creates
and drops ``test_NAME``). Email goes to Django's in-memory backend, so the
reminders are built and sent through Django's email framework but reach no one.

For each roster size (20,000 students, and 2,000 to show how it scales) a
fresh course of 20 sections goes through a term's start, each flow run
through the engine with the course's steps and storer:

1. ``roster-sync`` on the week 1 export: every student is new (added,
   checked, grouped; those without a valid GitHub username reminded; staff
   told about all of it).
2. ``roster-sync`` on the week 2 export: 5% dropped, 8% added, 2% moved to
   another section, half of the missing usernames supplied, some names
   changed, a few malformed lines.
3. ``reminders`` with ``min_gap_hours`` 0, so every student still without a
   valid username is reminded again.

The reminder step queues its reminders for a Tasks worker (the site's
database backend); after each flow run a worker sends them, here, and its
time is printed as context: it is no step's time.

Each step's time is its ``StepResult.duration`` (the median of the repeats).
Per step it prints that time as a share of the 1 s bound at 20,000 and at
2,000 students, and the per-student cost at 20,000 over that at 2,000 (about
1 when the step is linear; 10 when it is quadratic). A step passes when it
stays within the bound at 20,000. Under each flow run, as context, the time
Django alone takes to build the messages that run sent (``message()``, which
every email backend calls once per message): a floor that no step code can
go below. Absolute times are context only. The exit
code is 0 whether or not a bound is met: read PASS/FAIL.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "courseadmin.settings"
# Never a real mail server: 20,000 reminders must reach no one.
os.environ["EMAIL_URL"] = "memorymail://"

import django

BOUND = 1.0
"""Seconds any one step may take on the large roster."""
LARGE = 20_000
SMALL = 2_000
SECTIONS = 20
REPEATS = 3
WARM_UP = 200
"""Students of an untimed first term, so that no measured step pays for first calls."""
EMAILS = "(context) Django building the emails"
EMAILS_SENT = "(context) emails sent"
WORKER = "(context) a Tasks worker sending the queued reminders"
HEADER = ["NetID", "Name", "Email", "Section", "GitHub", "Level"]
NAMES = ["Amanda Kim", "Cauê Mendonça", "Zoë O'Brien", "Nguyễn Thị Minh", "Lee, Jordan"]


@dataclass(frozen=True)
class Entry:
    """One student as the registrar exports them."""

    netid: str
    name: str
    section: str
    github: str

    def row(self) -> list[str]:
        return [self.netid, self.name, f"{self.netid}@students.example.edu", self.section,
                self.github, "UG"]  # fmt: skip


def github_username(rng: random.Random, netid: str) -> str:
    """Return a username as students give them: 15% none, 8% not valid, the rest valid."""
    draw = rng.random()
    if draw < 0.15:
        return ""
    if draw < 0.23:
        return rng.choice([f"{netid}--x", f"-{netid}", f"{netid} gh", f"{netid}.dev"])
    return f"gh-{netid}"


def week1(count: int, rng: random.Random) -> list[Entry]:
    return [
        Entry(
            netid=f"st{n:06d}",
            name=f"{rng.choice(NAMES)} {n}",
            section=f"S{n % SECTIONS + 1:02d}",
            github=github_username(rng, f"st{n:06d}"),
        )
        for n in range(count)
    ]


def week2(first: list[Entry], rng: random.Random) -> list[Entry]:
    """Return the next export: some drops, adds, section moves, fixed usernames, new names."""
    count = len(first)
    kept = [entry for entry in first if rng.random() >= 0.05]
    changed = []
    for entry in kept:
        draw = rng.random()
        if draw < 0.02:
            entry = replace(entry, section=f"S{rng.randrange(SECTIONS) + 1:02d}")
        elif draw < 0.04:
            entry = replace(entry, name=f"{entry.name} Jr.")
        if not entry.github and rng.random() < 0.5:
            entry = replace(entry, github=f"gh-{entry.netid}")
        changed.append(entry)
    added = week1(count + int(count * 0.08), rng)[count:]
    return changed + added


def write_export(path: Path, entries: list[Entry], malformed_every: int = 0) -> Path:
    """Write ``entries`` as the registrar's CSV (BOM, CRLF); every so often a cut-off line."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(HEADER)
    for index, entry in enumerate(entries):
        row = entry.row()
        writer.writerow(row[:-1] if malformed_every and index % malformed_every == 7 else row)
    path.write_bytes(b"\xef\xbb\xbf" + text.getvalue().encode("utf-8"))
    return path


def configure(directory: Path) -> Any:
    """Set up Django on a fresh database (SQLite file, or PostgreSQL's test_NAME); return it."""
    django.setup()
    from django.conf import settings
    from django.test.utils import setup_databases

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(directory / "bench.sqlite3")
    settings.DEBUG = False  # DEBUG keeps every query in memory: not what a server does
    return setup_databases(verbosity=0, interactive=False)


def fresh_course() -> None:
    from django.core import mail

    from courseadmin.course.models import Group, Reminder, Section, Student

    Reminder.objects.all().delete()
    Student.objects.all().delete()
    Group.objects.all().delete()
    Section.objects.all().delete()
    Section.objects.bulk_create(Section(code=f"S{n + 1:02d}") for n in range(SECTIONS))
    mail.outbox = []


def run_flow(name: str, config: dict[str, Any]) -> dict[str, float]:
    """Run ``name`` through the engine with ``config``; return each step's seconds.

    Under ``WORKER`` it also returns how long a Tasks worker took to send the
    reminders the run queued; under ``EMAILS``, how many messages were sent
    and how long Django alone takes to build them (``message()``, which every
    backend calls once per message).
    """
    from django.core import mail
    from django.core.management import call_command

    from adminflow.registry import flow_registry

    configured = flow_registry[name].with_config(config)
    configured.storer.bind(configured.name, configured.storer_name)
    mail.outbox = []
    result = configured.run()
    assert result.succeeded, f"{name}: {result.error}\n{result.traceback or ''}"
    times = {step.name: step.duration for step in result.steps.values() if step.duration}
    started = time.perf_counter()
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    times[WORKER] = time.perf_counter() - started
    started = time.perf_counter()
    for message in mail.outbox:
        message.message()
    times[EMAILS] = time.perf_counter() - started
    times[EMAILS_SENT] = len(mail.outbox)
    return times


def term(count: int, directory: Path) -> Iterator[tuple[str, dict[str, float]]]:
    """Run the term's three flow runs on a fresh course of ``count`` students."""
    from adminflow.registry import flow_registry

    rng = random.Random(count)
    first = week1(count, rng)
    paths = [
        write_export(directory / f"week1-{count}.csv", first),
        write_export(directory / f"week2-{count}.csv", week2(first, rng), malformed_every=2000),
    ]
    fresh_course()
    sync = flow_registry["roster-sync"].default_config
    for week, path in enumerate(paths, start=1):
        config = {**sync, "import-roster": {**sync["import-roster"], "path": str(path)}}
        yield f"roster-sync, week {week}", run_flow("roster-sync", config)
    config = {**flow_registry["reminders"].default_config}
    config["remind-missing-usernames"] = {"min_gap_hours": 0.0}
    yield "reminders, every one due", run_flow("reminders", config)


def measure(
    sizes: tuple[int, ...], directory: Path, repeats: int
) -> dict[int, dict[tuple[str, str], float]]:
    """Return, per size, the median seconds of each (flow run, step) over ``repeats`` terms.

    The sizes take turns, so that a busy spell on the machine weighs on all of them.
    """
    times: dict[int, dict[tuple[str, str], list[float]]] = {size: {} for size in sizes}
    for _ in range(repeats):
        for size in sizes:
            for label, steps in term(size, directory):
                for step, seconds in steps.items():
                    times[size].setdefault((label, step), []).append(seconds)
    return {
        size: {key: statistics.median(values) for key, values in by_step.items()}
        for size, by_step in times.items()
    }


def report(large: dict[tuple[str, str], float], small: dict[tuple[str, str], float]) -> bool:
    """Print one line per step; return whether every step met the bound."""
    verdicts = []
    label = None
    for key, seconds in large.items():
        if key[0] != label:
            label = key[0]
            print(label)
        if key[1] == EMAILS_SENT:
            continue
        if key[1] == WORKER:
            print(f"  {key[1]}: {seconds:.3f} s; {small[key]:.3f} s")
            continue
        if key[1] == EMAILS:
            sent = (int(large[key[0], EMAILS_SENT]), int(small[key[0], EMAILS_SENT]))
            print(
                f"  {key[1]}: {seconds:.3f} s for {sent[0]:,}; {small[key]:.3f} s for {sent[1]:,}"
            )
            continue
        ok = seconds <= BOUND
        verdicts.append(ok)
        per_student = (seconds / LARGE) / (small[key] / SMALL)
        print(
            f"  {key[1]:<26} {seconds / BOUND:6.3f} of the bound at {LARGE:,}, "
            f"{small[key] / BOUND:6.3f} at {SMALL:,}; per student {per_student:5.1f}x  "
            f"{'PASS' if ok else 'FAIL'}  ({seconds:.3f} s; {small[key]:.3f} s)"
        )
    return all(verdicts)


def end_engine_sessions() -> None:
    """End the PostgreSQL sessions the engine's worker threads left open, so the database drops.

    The runs went through the engine alone, which leaves each worker thread's
    connection open for the thread's next step; they are this bench's own.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS, help="terms run at each size")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="adminflow-bench-") as directory:
        old_config = configure(Path(directory))
        from django.db import connection
        from django.test.utils import teardown_databases

        print(
            f"course demo flows on {connection.vendor}, {SECTIONS} sections, "
            f"bound {BOUND:.0f} s per step; median of {args.repeats}",
            flush=True,
        )
        measure((WARM_UP,), Path(directory), 1)
        times = measure((SMALL, LARGE), Path(directory), args.repeats)
        met = report(times[LARGE], times[SMALL])
        print("every step within the bound" if met else "some steps over the bound")
        end_engine_sessions()
        connection.close()
        teardown_databases(old_config, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
