"""Building a flow from a spec goes through the flow's public ``add_*_step`` methods."""

from __future__ import annotations

from typing import Any

from adminflow import AdminFlow

from .helpers import make_storer, propagate_step, record_step, update_step

STEP_TYPES = {
    "Record": record_step(),
    "Update": update_step(),
    "Propagate": propagate_step(),
}


class LoggedFlow(AdminFlow):
    """A flow that notes every step added to it through the public methods."""

    added: list[tuple[Any, ...]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.added = []

    def add_record_step(self, name, step):
        self.added.append(("record", name))
        super().add_record_step(name, step)

    def add_update_step(self, name, step, depends_on=()):
        self.added.append(("update", name, list(depends_on)))
        super().add_update_step(name, step, depends_on)

    def add_propagate_step(self, name, step, depends_on=()):
        self.added.append(("propagate", name, list(depends_on)))
        super().add_propagate_step(name, step, depends_on)


def spec() -> dict[str, Any]:
    return {
        "name": "logged",
        "storer": {"type": "Storer", "name": "records"},
        "steps": [
            {"name": "import", "type": "Record"},
            {"name": "after", "type": "Update", "depends_on": ["check"]},
            {"name": "check", "type": "Update"},
            {"name": "ping", "type": "Propagate"},
        ],
    }


def test_a_spec_adds_each_step_through_the_public_method_of_its_kind():
    flow = LoggedFlow.from_spec(spec(), {**STEP_TYPES, "Storer": make_storer([1])})

    assert type(flow) is LoggedFlow
    assert flow.added == [
        ("record", "import"),
        ("update", "check", []),
        ("update", "after", ["check"]),
        ("propagate", "ping", []),
    ]
    assert flow.run().succeeded
