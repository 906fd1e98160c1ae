"""What does recording a 1000-step run in the database cost, and how does its page hold up?

Run it with ``cd /work/main && .venv/bin/python bench/recorded_run.py`` (SQLite
file in a temporary directory), or with ``--database-url
postgres://postgres@127.0.0.1:5432/adminflow_bench``.

The flow is the executor benchmark's (d): 1000 no-op update steps in 10
layers of 100, each depending on 3 steps of the layer above, on 4 threads.

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

    The sides are interleaved: each of ``ROUNDS`` rounds runs all three once,
    in an order that alternates from round to round, so that a machine busy
    with other work slows every side alike. The ratio is that of the
    medians; the spread is the lowest, median and highest of the rounds' own
    ratios (each round's recorded run over the same round's engine run).
(b) The run's admin page (timeline, step graph, logs) for the 1000-step run
    over the page of a 10-step run: its query count must not grow; its time
    grows with the steps it draws, and the ratio says by how much per step.
    The two pages are interleaved the same way.

Absolute times are context only.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from admin_scale import configure
from executor import build_flow, layered_dag, step_config

ROUNDS = 21
THREADS = 4


def interleaved(actions: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
    """Time each action once a round for ``ROUNDS`` rounds; return each one's seconds.

    The order alternates from round to round (forward, then backward), so no
    side always runs first, or always right after another.
    """
    names = list(actions)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(ROUNDS):
        for name in names if round_number % 2 == 0 else reversed(names):
            gc.collect()
            started = time.perf_counter()
            actions[name]()
            times[name].append(time.perf_counter() - started)
    return times


def ratio(times: dict[str, list[float]], ours: str, base: str) -> tuple[float, str]:
    """Return the ratio of the medians of ``ours`` over ``base``, and the spread of the
    rounds' own ratios (one round's ``ours`` over the same round's ``base``): their
    lowest, median and highest. The median of the rounds' ratios is the steadier figure
    when the machine's load comes and goes, as each pair ran moments apart."""
    rounds = sorted(a / b for a, b in zip(times[ours], times[base], strict=True))
    spread = f"rounds {rounds[0]:.2f} / {median(rounds):.2f} / {rounds[-1]:.2f}x"
    return median(times[ours]) / median(times[base]), spread


def median(values: list[float]) -> float:
    return statistics.median(values)


def recorded(name: str) -> Any:
    from adminflow.runs import execute_run, start_run

    run = execute_run(start_run(name, trigger="command"))
    assert run.status == "succeeded", run.error
    return run


def page_queries(client: Any, run: Any) -> int:
    """Return the number of queries the run page of ``run`` makes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(page_url(run)).status_code == 200
    return len(queries)


def page_url(run: Any) -> str:
    from django.urls import reverse

    return reverse("admin:adminflow_flowrun_change", args=[run.pk])


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


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
        # Warm up both sides: imports, the process's thread pool, the database file.
        configured.run()
        recorded("big")

        times = interleaved(
            {
                "engine": lambda: big.with_config(big.default_config).run(),
                "engine_run_only": configured.run,
                "recorded": lambda: recorded("big"),
            }
        )
        engine, in_database = median(times["engine"]), median(times["recorded"])
        engine_run_only = median(times["engine_run_only"])
        steps = len(graph)
        print(
            f"a recorded run of {steps} steps on {connection.vendor}, {THREADS} threads; "
            f"{ROUNDS} interleaved rounds, medians; {load()}"
        )
        both, spread = ratio(times, "recorded", "engine")
        print(
            f"(a) recorded run / engine alone   {both:6.2f}x   ({spread}; "
            f"+{(in_database - engine) / steps * 1e6:.0f} us per step; "
            f"{engine * 1000:.0f} -> {in_database * 1000:.0f} ms; both configure the flow)"
        )
        beforehand, spread = ratio(times, "recorded", "engine_run_only")
        print(
            f"    over a flow configured beforehand {beforehand:6.2f}x   "
            f"({spread}; "
            f"{engine_run_only * 1000:.0f} -> {in_database * 1000:.0f} ms; "
            f"configuring counted on the recorded side only)"
        )

        user = get_user_model().objects.create_superuser("bench", "bench@example.edu", "x")
        client = Client()
        client.force_login(user)
        small_run, big_run = recorded("small"), recorded("big")
        small_queries, big_queries = page_queries(client, small_run), page_queries(client, big_run)
        pages = interleaved(
            {
                "small": lambda: client.get(page_url(small_run)),
                "big": lambda: client.get(page_url(big_run)),
            }
        )
        grown, spread = ratio(pages, "big", "small")
        print(
            f"(b) run page, {steps} steps / 10 steps: queries {small_queries} -> {big_queries} "
            f"({'PASS' if big_queries == small_queries else 'FAIL'}: constant), "
            f"time {grown:.1f}x for {steps // 10}x the steps ({spread}; "
            f"{median(pages['small']) * 1000:.0f} -> {median(pages['big']) * 1000:.0f} ms)"
        )
        connection.close()
        teardown_databases(old_config, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
