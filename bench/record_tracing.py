"""What does following records through a run's steps cost the engine?

Run it with ``cd /work/main && .venv/bin/python bench/record_tracing.py [--records N]``.

A flow over N records (default 20,000) with one record step that adds 1%
and drops 1%, and three update steps that each take every record's lock and
change one field of a third of them, on 4 threads, run by the engine alone
(no database) three ways: a storer that cannot name its records (nothing is
traced), one that can (record steps' additions and removals, log lines), and
the same with ``trace_records=True`` (every field change per step). Median
of 5; absolute times are context only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adminflow import AdminFlow, AdminRecordStep, AdminUpdateStep, RecordStorer

REPEATS = 5


@dataclass
class Row:
    key: str
    name: str = ""
    score: int = 0
    tags: list[str] = field(default_factory=list)


class Untraced(RecordStorer[Row]):
    description = "rows"
    count = 20_000

    def get_records(self, logger: Any) -> list[Row]:
        return [Row(f"r{n:06d}", f"Row {n}") for n in range(self.count)]

    def set_records(self, rec_list: list[Row], logger: Any) -> None:
        pass


class Traced(Untraced):
    record_field_names = ("key", "name", "score", "tags")

    def record_key(self, record: Row) -> str:
        return record.key

    def record_values(self, record: Row) -> tuple[Any, ...]:
        return (record.key, record.name, record.score, list(record.tags))


class Churn(AdminRecordStep[Row]):
    def new_records(self, curr_records, logger, set_metadata, debug=False):
        drop = len(curr_records) // 100
        return curr_records[drop:] + [Row(f"new{n}") for n in range(drop)]


def touching(index: int) -> type[AdminUpdateStep[Row]]:
    class Touch(AdminUpdateStep[Row]):
        def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
            for number, (row, lock) in enumerate(records):
                with lock:
                    if number % 3 == index:
                        row.score += 1

    return Touch


def flow_of(storer: type[Untraced], trace_records: bool) -> AdminFlow:
    flow = AdminFlow("bench", "tracing", storer, "rows", trace_records=trace_records)
    flow.add_record_step("churn", Churn)
    for index in range(3):
        flow.add_update_step(f"touch-{index}", touching(index))
    return flow


def median_seconds(flow: AdminFlow) -> float:
    configured = flow.with_config({"num_threads": 4})
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        assert configured.run().status == "succeeded"
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=Untraced.count)
    args = parser.parse_args(argv)
    Untraced.count = args.records
    plain = median_seconds(flow_of(Untraced, False))
    named = median_seconds(flow_of(Traced, False))
    fields = median_seconds(flow_of(Traced, True))
    print(f"{args.records} records, 1 record step + 3 update steps, 4 threads; median of {REPEATS}")
    print(f"nothing traced                     {plain * 1000:7.0f} ms")
    print(f"adds, drops, lines (always)        {named * 1000:7.0f} ms  {named / plain:5.2f}x")
    print(f"field changes too (trace_records)  {fields * 1000:7.0f} ms  {fields / plain:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
