"""Load: 200 runs of 20 flows through three RQ workers, on PostgreSQL.

A driver keeps every flow's next run queued as soon as its previous run
finished (a flow has at most one active run: a second is refused), until
each flow has had its share. Meanwhile a monitor thread checks, every
20 ms, that no flow has two active runs. At the end every run must have
succeeded, exactly once, with every line its steps logged stored. The same
test then drives a smaller batch through one worker and prints throughput
of both (runs per second) and their ratio; times are printed, never asserted.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from django.db import connection, connections
from django.db.models import Count
from rq import Queue
from rq.job import Job

from adminflow.models import FlowRun, RunLog, StepRun
from adminflow.runs import enqueue_run, start_run
from adminflow.states import FINISHED_RUN_STATUSES, FlowRunStatus, Trigger

from .backends import delete_rq_queue
from .flows import RUN_WAIT_SECONDS, assert_sleepy_run_complete, create_sleepy_flows
from .steps import STEPS

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the load test needs PostgreSQL: set DATABASE_URL",
    ),
]

FLOWS = 20
RUNS_PER_FLOW = 10
SINGLE_WORKER_RUNS_PER_FLOW = 4
WORKERS = 3
LINES = 5
PAUSE = 0.01
"""Each step sleeps this long before each of its LINES lines: 50 ms a step."""
MONITOR_INTERVAL = 0.02
DRIVER_INTERVAL = 0.005


@dataclass
class Monitor:
    """Watch, from a thread of its own, that no flow ever has two active runs."""

    polls: int = 0
    doubled: list[dict] = field(default_factory=list)
    """Every flow seen with more than one queued or running run, and how many it had."""
    most_running: int = 0
    """The most runs seen running at once, of all flows."""
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def watch(self) -> None:
        try:
            while not self._stop.wait(MONITOR_INTERVAL):
                active = FlowRun.objects.active().values("flow__name")
                self.doubled += active.annotate(runs=Count("pk")).filter(runs__gt=1)
                running = FlowRun.objects.filter(status=FlowRunStatus.RUNNING).count()
                self.most_running = max(self.most_running, running)
                self.polls += 1
        except BaseException as exc:  # raised again in the test's thread
            self.error = exc
        finally:
            connections.close_all()

    @contextmanager
    def watching(self) -> Iterator[Monitor]:
        """Watch while the block runs; raise what the watching thread raised, if anything."""
        thread = threading.Thread(target=self.watch, name="load-monitor")
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
        if self.error is not None:
            raise self.error


def drive(flows: list[str], runs_per_flow: int) -> tuple[list[int], float]:
    """Queue ``runs_per_flow`` runs of each flow, each once its flow's previous run finished.

    Return the ids of the runs, in the order queued, and the seconds from
    the first queued to the last finished.
    """
    left = dict.fromkeys(flows, runs_per_flow)
    current: dict[str, int] = {}
    queued: list[int] = []
    began = time.monotonic()
    last_progress = began
    while left or current:
        if current:
            done = set(
                FlowRun.objects.filter(
                    pk__in=current.values(), status__in=FINISHED_RUN_STATUSES
                ).values_list("pk", flat=True)
            )
            current = {name: pk for name, pk in current.items() if pk not in done}
            if done:
                last_progress = time.monotonic()
        for name in [name for name in left if name not in current]:
            run = start_run(name, trigger=Trigger.API)
            enqueue_run(run)
            current[name] = run.pk
            queued.append(run.pk)
            left[name] -= 1
            if not left[name]:
                del left[name]
        if time.monotonic() - last_progress > RUN_WAIT_SECONDS:
            raise AssertionError(f"no run finished for {RUN_WAIT_SECONDS} s; waiting on {current}")
        time.sleep(DRIVER_INTERVAL)
    return queued, time.monotonic() - began


def most_overlapping(runs: list[FlowRun]) -> int:
    """Return the most runs that were running at one instant, by their recorded times."""
    events = sorted(
        [(run.started_at, 1) for run in runs] + [(run.finished_at, -1) for run in runs],
        key=lambda event: (event[0], event[1]),
    )
    most = running = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def assert_all_ran_once(
    run_ids: list[int], flows: list[str], runs_per_flow: int, queue: Queue
) -> list[FlowRun]:
    """Assert that every run succeeded once, one flow at a time, with all its lines stored.

    Return the runs. ``queue`` must hold no jobs but theirs.
    """
    runs = list(FlowRun.objects.filter(pk__in=run_ids).select_related("flow"))
    assert len(set(run_ids)) == len(run_ids) == len(runs) == len(flows) * runs_per_flow
    assert Counter(run.flow.name for run in runs) == dict.fromkeys(flows, runs_per_flow)
    for run in runs:
        assert_sleepy_run_complete(run, LINES)
        assert run.worker
    # Each stored line once: the steps' lines, their starts and ends, and the storer's,
    # nothing twice.
    lines_per_run = len(STEPS) * (LINES + 2) + 1
    assert RunLog.objects.filter(run__in=run_ids).count() == len(runs) * lines_per_run
    assert StepRun.objects.filter(run__in=run_ids).count() == len(runs) * len(STEPS)
    # Each run went out as one RQ job, no job more, and each job was executed once, to the end.
    task_ids = {run.task_id for run in runs}
    assert len(task_ids) == len(runs)
    assert set(queue.finished_job_registry.get_job_ids()) == task_ids
    assert not queue.failed_job_registry.get_job_ids()
    assert queue.count == 0
    jobs = Job.fetch_many(list(task_ids), connection=queue.connection)
    assert [len(job.results()) for job in jobs] == [1] * len(jobs)
    # A flow's runs never overlapped: each started after the one before it finished.
    for flow in flows:
        times = sorted((run.started_at, run.finished_at) for run in runs if run.flow.name == flow)
        for (_, finished), (started, _) in itertools.pairwise(times):
            assert finished <= started, flow
    return runs


def test_200_runs_of_20_flows_through_three_rq_workers(
    rq_workers, workers, queue_name, redis_connection, capsys
):
    flows = create_sleepy_flows(FLOWS, lines=LINES, pause=PAUSE)
    queue = Queue(queue_name, connection=redis_connection)
    rq_workers(WORKERS)

    with Monitor().watching() as monitor:
        run_ids, seconds = drive(flows, RUNS_PER_FLOW)
    runs = assert_all_ran_once(run_ids, flows, RUNS_PER_FLOW, queue)
    assert monitor.doubled == []
    assert monitor.polls > 0
    # The workers ran runs side by side, never more than one each.
    assert 1 < most_overlapping(runs) <= WORKERS
    assert monitor.most_running <= WORKERS

    workers.stop()
    delete_rq_queue(redis_connection, queue_name)
    rq_workers(1)
    with Monitor().watching() as single_monitor:
        single_ids, single_seconds = drive(flows, SINGLE_WORKER_RUNS_PER_FLOW)
    single_runs = assert_all_ran_once(single_ids, flows, SINGLE_WORKER_RUNS_PER_FLOW, queue)
    assert single_monitor.doubled == []
    assert most_overlapping(single_runs) == 1

    many, one = len(runs) / seconds, len(single_runs) / single_seconds
    with capsys.disabled():  # shown in every run, CI's included
        print(
            f"\n{WORKERS} RQ workers: {len(runs)} runs in {seconds:.1f} s = {many:.1f} runs/s "
            f"(at most {most_overlapping(runs)} running at once; monitor polled {monitor.polls} times)"
            f"\n1 RQ worker:  {len(single_runs)} runs in {single_seconds:.1f} s = {one:.1f} runs/s"
            f"\nthroughput ratio, {WORKERS} workers / 1: {many / one:.2f}"
        )
