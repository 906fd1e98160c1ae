"""Hypothesis strategies for hostile configs and specs, and the flow they are thrown at.

Two kinds of input: anything a YAML or JSON document (or a Python caller)
could hand over, and "near-valid" documents made from a valid one by a few
mutations, which reach much deeper into the checks than noise does.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import strategies as st

from adminflow import (
    AdminFlow,
    AdminPropagateStep,
    AdminRecordStep,
    AdminUpdateStep,
    RecordStorer,
    Secret,
)

HUGE_INTS = [10**400, -(10**400), 10**4000, 2**63, -(2**63) - 1]
"""Beyond what a float holds; 10**4000 is near the 4,300 digits Python will print."""

nasty = st.sampled_from(
    [*HUGE_INTS, float("nan"), float("inf"), -float("inf"), b"\x00", "", "\x00", "<script>", -1, 0]
)
"""Values that have broken config checks before: met often, not left to chance."""

scalars = st.one_of(
    nasty,
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "So"]), max_size=10),
    st.binary(max_size=10),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, UTC])),
)

odd_keys = st.one_of(
    st.text(max_size=20),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),
    st.tuples(st.integers(), st.text(max_size=3)),
    st.frozensets(st.integers(), max_size=2),
)

json_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(odd_keys, children, max_size=4),
    ),
    max_leaves=12,
)
"""Any nested value: what YAML can build (dates, bytes, odd keys) and what a caller can pass."""


# The flow under test: every config type, a storer with config, all three step kinds.


class Storer(RecordStorer):
    description = "keeps nothing"
    config_types = [("collection", str, "where to keep records", "things")]

    def get_records(self, logger: Any) -> list[Any]:
        return []

    def set_records(self, rec_list: list[Any], logger: Any) -> None:
        pass


class Load(AdminRecordStep):
    description = "load"
    config_types = [
        ("count", int, "how many"),
        ("since", datetime, "start of the window"),
        ("due", date, "the due date", "2024-01-31"),
    ]

    def new_records(self, curr_records, logger, set_metadata, debug=False):
        return curr_records


class Check(AdminUpdateStep):
    description = "check"
    config_types = [
        ("ratio", float, "a fraction", 0.5),
        ("names", list[str], "some names", []),
        ("ids", list[int], "some ids"),
        ("anything", list, "any list", []),
    ]

    def validate(self) -> None:
        if "refuse" in self.configs.names:
            raise ValueError("'refuse' is not a name this step takes")

    def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
        pass


class Notify(AdminPropagateStep):
    description = "notify"
    config_types = [
        ("token", Secret, "the API token"),
        ("dry", bool, "only pretend", False),
        ("label", str, "a label", "x"),
    ]

    def propagate_records(self, records, logger, get_metadata, debug=False):
        pass


STEP_TYPES = {"Storer": Storer, "Load": Load, "Check": Check, "Notify": Notify}

VALID_CONFIG: dict[str, Any] = {
    "num_threads": 2,
    "fail_fast": False,
    "things": {"collection": "things"},
    "load": {"count": 3, "since": "2024-01-02T03:04:05+00:00"},
    "check": {"ids": [1, 2], "names": ["ann"], "ratio": 0.25},
    "check2": {"ids": []},
    "notify": {"token": "tok-123"},
    "notify-mode": "debug",
}


def build_flow() -> AdminFlow:
    """Return the flow under test, configured with :data:`VALID_CONFIG` as its default."""
    flow = AdminFlow(
        "hostile", "a flow under attack", Storer, "things", default_config=VALID_CONFIG
    )
    flow.add_record_step("load", Load)
    flow.add_update_step("check", Check)
    flow.add_update_step("check2", Check, depends_on=["check"])
    flow.add_propagate_step("notify", Notify)
    return flow


SECTIONS = ["things", "load", "check", "check2", "notify"]
TOP_KEYS = ["num_threads", "fail_fast", "_description", *SECTIONS, *(f"{s}-mode" for s in SECTIONS)]
SECTION_KEYS = ["collection", "count", "since", "due", "ratio", "names", "ids", "token", "dry"]
BAD_THREADS = [0, -1, True, False, 1.5, "4", None, 10**400, float("nan"), [], {}]
MODES = ["include", "exclude", "debug", "Include", "", None, 1, "exclude ", ["debug"]]


@st.composite
def near_valid(draw: st.DrawFn, base: dict[str, Any], paths: list[list[Any]]) -> Any:
    """Return ``base`` after a few mutations at ``paths``: dropped, retyped, added, mode, threads.

    ``paths`` lists the places a mutation may hit: ``[]`` is the top level,
    ``["load"]`` a section, and so on.
    """
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        target = _walk(document, draw(st.sampled_from(paths)))
        if not isinstance(target, dict | list):
            continue
        mutation = draw(st.sampled_from(["drop", "retype", "add", "mode", "threads", "append"]))
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if mutation == "drop" and keys:
            del target[draw(st.sampled_from(keys))]
        elif mutation == "retype" and keys:
            target[draw(st.sampled_from(keys))] = draw(json_like)
        elif mutation == "add" and isinstance(target, dict):
            key = draw(st.one_of(st.sampled_from(TOP_KEYS + SECTION_KEYS), odd_keys))
            target[key] = draw(json_like)
        elif mutation == "mode" and isinstance(target, dict):
            target[f"{draw(st.sampled_from(SECTIONS))}-mode"] = draw(st.sampled_from(MODES))
        elif mutation == "threads" and isinstance(target, dict):
            target["num_threads"] = draw(st.sampled_from(BAD_THREADS))
        elif mutation == "append" and isinstance(target, list):
            target.append(draw(json_like))
    return document


def _walk(document: Any, path: list[Any]) -> Any:
    for key in path:
        try:
            document = document[key]
        except (KeyError, IndexError, TypeError):
            return None
    return document


CONFIG_PATHS = [[], *([section] for section in SECTIONS), ["check", "ids"], ["check", "names"]]

configs = st.one_of(
    json_like,
    st.dictionaries(st.one_of(st.sampled_from(TOP_KEYS), odd_keys), json_like, max_size=6),
    near_valid(VALID_CONFIG, CONFIG_PATHS),
)
"""Every kind of config: noise, mappings of plausible keys, and mutated valid configs."""


# Specs


KINDS = {Load: "record", Check: "update", Notify: "propagate"}
INLINE_CONFIGS = {
    Load: {"count": 1, "since": "2024-01-01T00:00:00"},
    Check: {"ids": [1]},
    Notify: {"token": "tok-123"},
}
step_names = st.from_regex(r"[a-z][a-z0-9_.-]{0,8}", fullmatch=True)


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Return a spec in the form ``to_spec`` writes: steps after their dependencies."""
    names = draw(st.lists(step_names, min_size=0, max_size=6, unique=True))
    storer: dict[str, Any] = {"type": "Storer", "name": draw(st.sampled_from(["things", "rows"]))}
    if draw(st.booleans()):
        storer["config"] = {"collection": draw(st.text(max_size=10))}
    if draw(st.booleans()):
        storer["mode"] = draw(st.sampled_from(["include", "debug"]))
    steps: list[dict[str, Any]] = []
    for name in names:
        cls = draw(st.sampled_from([Load, Check, Notify]))
        step: dict[str, Any] = {"name": name, "type": cls.__name__, "kind": KINDS[cls]}
        same_kind = [s["name"] for s in steps if s["kind"] == KINDS[cls]]
        if same_kind and cls is not Load:
            depends_on = draw(st.lists(st.sampled_from(same_kind), unique=True, max_size=3))
            if depends_on:
                step["depends_on"] = depends_on
        if draw(st.booleans()):
            step["config"] = INLINE_CONFIGS[cls]
        if draw(st.booleans()):
            step["mode"] = draw(st.sampled_from(["include", "exclude", "debug"]))
        steps.append(step)
    spec: dict[str, Any] = {"name": draw(step_names), "description": draw(st.text(max_size=20))}
    if draw(st.booleans()):
        spec["settings"] = {"num_threads": draw(st.integers(1, 8))}
    spec["storer"] = storer
    spec["steps"] = steps
    return spec


TYPE_NAMES = [
    "Load",
    "Storer",
    "Nope",
    "",
    ".x",
    "..x",
    "...",
    "a..b",
    "os.system",
    "os.path.nope",
    "a\x00b.c",
    "tests.property.strategies.Load",
    "tests.property.strategies.Storer",
    "adminflow.AdminRecordStep",
    "adminflow.RecordStorer",
    "nonexistent_module_xyz.Thing",
]
"""Registered names, dotted paths that import, and paths that cannot: relative, NUL, empty."""

SPEC_PATHS = [
    [],
    ["storer"],
    ["settings"],
    ["steps"],
    *(["steps", index] for index in range(3)),
    *(["steps", index, "depends_on"] for index in range(3)),
    *(["steps", index, "config"] for index in range(3)),
]


@st.composite
def hostile_specs(draw: st.DrawFn) -> Any:
    """Return a valid spec after a few mutations, some of them to type names and kinds."""
    spec = draw(near_valid(draw(valid_specs()), SPEC_PATHS))
    steps = spec.get("steps") if isinstance(spec, dict) else None
    if isinstance(steps, list) and steps and draw(st.booleans()):
        step = steps[draw(st.integers(0, len(steps) - 1))]
        if isinstance(step, dict):
            key = draw(st.sampled_from(["type", "kind", "name", "depends_on"]))
            step[key] = draw(
                st.one_of(st.sampled_from([*TYPE_NAMES, "record", "update", "bogus"]), json_like)
            )
    return spec


specs = st.one_of(json_like, hostile_specs(), st.text(max_size=200))
"""Every kind of spec: noise, mutated valid specs, and text that may or may not be YAML."""
