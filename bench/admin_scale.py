"""Do the admin pages of runs stay as fast with 10k runs and 1M log lines as with 100?

Run it with ``cd /work/main && .venv/bin/python bench/admin_scale.py`` (SQLite
file in a temporary directory), or with ``--database-url
postgres://postgres@127.0.0.1:5432/adminflow_bench`` (the database is created
and dropped by the bench).

The same pages are measured twice in this run, as a superuser through
Django's test client (URL routing, queries, templates): first with 100
finished runs of 10 flows holding 100 log lines each (10k lines), then after
the tables grew to 10,000 runs and 1,000,000 lines. The pages:

- the run changelist (first page);
- the flow changelist (last run and active run per flow);
- the run page of one run (summary, steps, graph, its first log page);
- the run page opened on an older log page (keyset pagination);
- the live endpoint of the run (its log lines after id 0, as JSON).

For each page it prints the query count at both sizes (they must be equal)
and the median time at 10k runs over the median at 100 (target <= 2x).
Absolute times are context only. The exit code is 0 whether or not a
target is met: read PASS/FAIL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

TIME_TARGET = 2.0
REPEATS = 15
FLOWS = 10
LINES_PER_RUN = 100
STEPS = ("fetch", "check", "notify")


def configure(database_url: str | None, directory: Path) -> Any:
    """Point the test settings at a fresh database and migrate it; return what tears it down."""
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    django.setup()
    from django.conf import settings
    from django.test.utils import setup_databases

    if not database_url:
        settings.DATABASES["default"]["TEST"]["NAME"] = str(directory / "bench.sqlite3")
    # The test-database machinery makes (and later drops) a throwaway database.
    settings.DEBUG = False
    return setup_databases(verbosity=0, interactive=False)


def add_runs(count: int, first_day: Any) -> None:
    """Add ``count`` finished runs over the flows, each with its steps and log lines."""
    from django.db import connection, transaction
    from django.utils import timezone

    from adminflow.models import Flow, FlowRun, StepRun

    flows = list(Flow.objects.filter(name__startswith="bench-").order_by("name"))
    now = timezone.now()
    with transaction.atomic():
        runs = FlowRun.objects.bulk_create(
            FlowRun(
                flow=flows[i % len(flows)],
                status="failed" if i % 7 == 0 else "succeeded",
                trigger="schedule",
                queued_at=first_day + timedelta(minutes=i),
                started_at=first_day + timedelta(minutes=i),
                finished_at=first_day + timedelta(minutes=i, seconds=30),
                error="failed steps: notify" if i % 7 == 0 else "",
                records_loaded=500,
                records_stored=500,
            )
            for i in range(count)
        )
        StepRun.objects.bulk_create(
            StepRun(
                run=run,
                name=name,
                kind="update" if position < 2 else "propagate",
                mode="include",
                status="succeeded",
                depends_on=list(STEPS[:position][-1:]),
                position=position,
                started_at=run.started_at,
                finished_at=run.finished_at,
                duration=10.0,
                attempts=1,
            )
            for run in runs
            for position, name in enumerate(STEPS)
        )
        # Raw executemany: a million ORM objects would only measure the bench itself.
        with connection.cursor() as cursor:
            for run in runs:
                cursor.executemany(
                    "INSERT INTO adminflow_runlog (run_id, step, level, message, created_at) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    [
                        (run.pk, STEPS[n % 3], 20, f"line {n} of run {run.pk}", now)
                        for n in range(LINES_PER_RUN)
                    ],
                )


def measure(client: Any, pages: dict[str, str]) -> dict[str, tuple[int, float]]:
    """Return each page's query count and median seconds."""
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    results = {}
    for label, url in pages.items():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        # Counted now: each further request empties the connection's query log.
        count = len(queries)
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - started)
        results[label] = (count, statistics.median(times))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL URL; SQLite by default")
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the large case")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="adminflow-bench-") as directory:
        old_config = configure(args.database_url, Path(directory))
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from django.test.utils import teardown_databases
        from django.urls import reverse
        from django.utils import timezone

        from adminflow.models import Flow, FlowRun, RunLog

        Flow.objects.bulk_create(Flow(name=f"bench-{i:02d}") for i in range(FLOWS))
        first_day = timezone.now() - timedelta(days=30)
        add_runs(100, first_day)
        target = FlowRun.objects.order_by("pk")[50]
        user = get_user_model().objects.create_superuser("bench", "bench@example.edu", "x")
        client = Client()
        client.force_login(user)
        run_url = reverse("admin:adminflow_flowrun_change", args=[target.pk])
        middle_line = RunLog.objects.filter(run=target).order_by("id")[60].pk
        pages = {
            "run changelist": reverse("admin:adminflow_flowrun_changelist"),
            "flow changelist": reverse("admin:adminflow_flow_changelist"),
            "run page": run_url,
            "run page, older log page": f"{run_url}?log_before={middle_line}",
            "live endpoint": reverse("admin:adminflow_flowrun_live", args=[target.pk]) + "?after=0",
        }
        small = measure(client, pages)
        small_counts = (FlowRun.objects.count(), RunLog.objects.count())
        add_runs(args.runs - 100, first_day + timedelta(minutes=100))
        large_counts = (FlowRun.objects.count(), RunLog.objects.count())
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        large = measure(client, pages)
        print(
            f"admin pages on {connection.vendor}: {small_counts[0]:,} runs / "
            f"{small_counts[1]:,} log lines vs {large_counts[0]:,} runs / "
            f"{large_counts[1]:,} log lines; median of {REPEATS}"
        )
        verdicts = []
        for label in pages:
            (few_queries, few_time), (many_queries, many_time) = small[label], large[label]
            ratio = many_time / few_time
            ok = ratio <= TIME_TARGET and many_queries == few_queries
            verdicts.append(ok)
            print(
                f"{label:<26} queries {few_queries:>2} -> {many_queries:>2}   "
                f"time {ratio:5.2f}x (target <= {TIME_TARGET:.0f}x)  "
                f"{'PASS' if ok else 'FAIL'}   ({few_time * 1000:6.1f} -> "
                f"{many_time * 1000:6.1f} ms)"
            )
        print("all targets met" if all(verdicts) else "some targets missed")
        connection.close()
        teardown_databases(old_config, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
