"""A flow that waits at a gate the test opens, for the browser tests' real worker.

The worker is another process, so a test cannot hold a run still with a
``threading.Event``: step ``wait`` blocks until the file named by its
``gate`` config exists. A test points ``gate`` at a path of its own (in the
``Flow`` row's stored config), watches the run while it waits, and creates
the file to let it go on. The ``timeout`` keeps a forgotten gate from
holding a worker forever.

Flow ``gated``: ``add`` adds [1, 2, 3] (record step), ``wait`` waits at the
gate, then ``say`` logs its configured ``message`` as it is (untrusted text, as
any step's). A cancel that lands while ``wait`` waits keeps ``say`` from
ever starting.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import adminflow
from adminflow import AdminFlow, AdminUpdateStep

from .steps import AddNumbers, Number, Numbers

GATE_POLL_SECONDS = 0.05


@adminflow.register_step
class WaitForGate(AdminUpdateStep[Number]):
    description = "Wait until the gate file exists, so a test decides when the run goes on."
    config_types = [
        ("gate", str, "the file whose creation opens the gate"),
        ("timeout", float, "seconds to wait before failing", 30.0),
    ]

    def update_records(
        self,
        records: list[tuple[Number, Any]],
        logger: Any,
        get_metadata: Any,
        set_metadata: Any,
        debug: bool = False,
    ) -> None:
        gate = Path(self.configs.gate)
        logger(f"waiting for {gate} to exist")
        wait_for_gate(gate, self.configs.timeout)
        logger(f"{gate} exists: going on")


def wait_for_gate(gate: Path, timeout: float) -> None:
    """Return once file ``gate`` exists; raise TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not gate.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} was not opened within {timeout} seconds")
        time.sleep(GATE_POLL_SECONDS)


@adminflow.register_step
class Say(AdminUpdateStep[Number]):
    description = "Log the configured message, as it is."
    config_types = [("message", str, "what to log")]

    def update_records(
        self,
        records: list[tuple[Number, Any]],
        logger: Any,
        get_metadata: Any,
        set_metadata: Any,
        debug: bool = False,
    ) -> None:
        logger(self.configs.message)


gated = AdminFlow(
    "gated",
    "Add 1, 2 and 3, wait at a gate, then say something.",
    Numbers,
    "numbers",
    default_config={
        "num_threads": 1,
        "numbers": {"collection": "gated"},
        "add": {"numbers": [1, 2, 3]},
        "wait": {"gate": "/nonexistent/gate", "timeout": 30.0},
        "say": {"message": "said after the gate"},
    },
)
gated.add_record_step("add", AddNumbers)
gated.add_update_step("wait", WaitForGate)
gated.add_update_step("say", Say, depends_on=["wait"])
adminflow.register_flow(gated)
