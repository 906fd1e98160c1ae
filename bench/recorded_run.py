"""What does recording a 1000-step run in the database cost, and how does its page hold up?

Run it with ``cd /work/main && .venv/bin/python bench/recorded_run.py`` (SQLite
file in a temporary directory), or with ``--database-url
postgres://postgres@127.0.0.1:5432/adminflow_bench``.

The flow is the executor benchmark's (d): 1000 no-op update steps in 10
layers of 100, each depending on 3 steps of the layer above, on 4 threads.
Measured in this run, median of 5:

(a) The recorded run (``start_run`` + ``execute_run``: a ``StepRun`` row per
    step, moved to running and to succeeded as it goes, log lines, heartbeat)
    over the same flow run by the engine alone. Both sides do the same work
    besides recording: the engine alone configures the flow and runs it, as
    a user's script does (``flow.with_config(config).run()``), and
    ``start_run`` configures it too. A second ratio sets the recorded run
    against the run of a flow configured beforehand (the configuring of
    1000 steps counted on the recorded side only): it overstates what
    recording costs, and is printed so that figures measured that way can
    be compared. The difference per step is printed too.
(b) The run's admin page (timeline, step graph, logs) for the 1000-step run
    over the page of a 10-step run: its query count must not grow; its time
    grows with the steps it draws, and the ratio says by how much per step.

Absolute times are context only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from admin_scale import configure
from executor import build_flow, layered_dag, step_config

REPEATS = 5
THREADS = 4


def median_seconds(action: Any) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def recorded(name: str) -> Any:
    from adminflow.runs import execute_run, start_run

    run = execute_run(start_run(name, trigger="command"))
    assert run.status == "succeeded", run.error
    return run


def page(client: Any, run: Any) -> tuple[int, float]:
    """Return the run page's query count and median seconds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    url = reverse("admin:adminflow_flowrun_change", args=[run.pk])
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    count = len(queries)
    return count, median_seconds(lambda: client.get(url))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL URL; SQLite by default")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="adminflow-bench-") as directory:
        old_config = configure(args.database_url, Path(directory))
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from django.test.utils import teardown_databases

        from adminflow.registry import flow_registry

        flows = {}
        for name, layers, width in (("big", 10, 100), ("small", 1, 10)):
            graph = layered_dag(layers, width, min(3, width), 7)
            flow = build_flow(graph)
            flow.name = name
            flow.default_config = step_config(graph, 0.0, THREADS)
            flow_registry.register(flow)
            flows[name] = (flow, graph)
        big, graph = flows["big"]
        configured = big.with_config(big.default_config)

        engine = median_seconds(lambda: big.with_config(big.default_config).run())
        engine_run_only = median_seconds(configured.run)
        in_database = median_seconds(lambda: recorded("big"))
        steps = len(graph)
        print(
            f"a recorded run of {steps} steps on {connection.vendor}, {THREADS} threads; "
            f"median of {REPEATS}"
        )
        print(
            f"(a) recorded run / engine alone   {in_database / engine:6.2f}x   "
            f"(+{(in_database - engine) / steps * 1e6:.0f} us per step; "
            f"{engine * 1000:.0f} -> {in_database * 1000:.0f} ms; both configure the flow)"
        )
        print(
            f"    over a flow configured beforehand {in_database / engine_run_only:6.2f}x   "
            f"({engine_run_only * 1000:.0f} -> {in_database * 1000:.0f} ms; "
            f"configuring counted on the recorded side only)"
        )

        user = get_user_model().objects.create_superuser("bench", "bench@example.edu", "x")
        client = Client()
        client.force_login(user)
        small_queries, small_time = page(client, recorded("small"))
        big_queries, big_time = page(client, recorded("big"))
        print(
            f"(b) run page, {steps} steps / 10 steps: queries {small_queries} -> {big_queries} "
            f"({'PASS' if big_queries == small_queries else 'FAIL'}: constant), "
            f"time {big_time / small_time:.1f}x for {steps // 10}x the steps "
            f"({small_time * 1000:.0f} -> {big_time * 1000:.0f} ms)"
        )
        connection.close()
        teardown_databases(old_config, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
