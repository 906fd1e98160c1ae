"""Two flows over the number steps, registered the two ways a site can.

Both load a collection, add numbers (record step ``add``), double them and
then add one (update steps ``double`` and ``increment``, which depends on
``double``), report the total (propagate step ``total``) and store the result.
From an empty collection, ``numbers`` stores ``[3, 5, 7]`` and reports
``("numbers", 15)``.

``numbers-debuggable`` is the same pipeline on its own collection, with
``debug_values`` set, so that a debug run is visibly different: it adds
``[100]`` instead of ``[1, 2, 3]``, reports nothing and stores nothing.

Importing :mod:`.gated` registers a third flow, ``gated``, for the browser tests;
importing :mod:`.faults` registers the steps of the fault tests' flow, and
:mod:`.plans` flow ``welcome`` of the plan tests.
"""

from __future__ import annotations

import adminflow
from adminflow import AdminFlow

from . import faults, gated, plans  # noqa: F401  (register what the browser, fault and plan tests run)
from .steps import AddNumbers, Double, Increment, Numbers, Total


def add_number_steps(flow: AdminFlow) -> AdminFlow:
    """Add the ``add`` / ``double`` / ``increment`` / ``total`` steps to ``flow``."""
    flow.add_record_step("add", AddNumbers)
    flow.add_update_step("double", Double)
    flow.add_update_step("increment", Increment, depends_on=["double"])
    flow.add_propagate_step("total", Total)
    return flow


@adminflow.register_flow
def numbers() -> AdminFlow:
    """Return the ``numbers`` flow, registered by decorating this builder."""
    flow = AdminFlow(
        "numbers",
        "Add 1, 2 and 3, double every number, add one, report the total.",
        Numbers,
        "numbers",
        default_config={
            "num_threads": 2,
            "numbers": {"collection": "numbers"},
            "add": {"numbers": [1, 2, 3]},
            "double": {},
            "increment": {"by": 1},
            "total": {"label": "numbers"},
        },
    )
    return add_number_steps(flow)


numbers_debuggable = add_number_steps(
    AdminFlow(
        "numbers-debuggable",
        "The numbers flow on its own collection, adding 100 instead in debug mode.",
        Numbers,
        "numbers",
        default_config={
            "num_threads": 2,
            "numbers": {"collection": "numbers-debuggable"},
            "add": {"numbers": [1, 2, 3], "debug_numbers": [100]},
            "double": {},
            "increment": {"by": 1},
            "total": {"label": "numbers-debuggable"},
        },
    )
)
adminflow.register_flow(numbers_debuggable)
