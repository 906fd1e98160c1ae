"""Keep a Canvas group set in step with the groups a flow assigned.

The groups are the ones a flow assigned: a value on each student record
(``group_field``). They are kept as groups of one group set (Canvas calls it
a group category), ``category``, made if missing. A student's Canvas group is
recorded by name once they are in it (``outcome_field``); a student whose
group changed is added to the new one, which takes them out of the old, as
Canvas keeps a student in one group per set; one who left their group, or
the course, is taken out. Groups and the set are made only when a student
has to join them, so a run with nothing to change sends nothing.

Each join or leave is an intent; they are carried out in batches of one
action (see :mod:`.intents`), so the group set's groups are read once per
batch, not once per student.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from functools import partial
from typing import Any, ClassVar

from canvasapi.group import Group, GroupCategory

from adminflow import AdminPropagateStep, Intent
from adminflow.engine.steps import Logger

from .base import CANVAS_CONFIG, is_active
from .errors import CanvasRefused
from .intents import CanvasIntents, Report, failed, refusal_is_outcome
from .session import CanvasSession


class SyncCanvasGroups(CanvasIntents, AdminPropagateStep[Any]):
    description = (
        "Put each enrolled student in the Canvas group (of one group set) the flow assigned "
        "them, and take out those who left their group or the course."
    )
    config_types = [
        *CANVAS_CONFIG,
        ("category", str, "the Canvas group set to keep the groups in; made if missing"),
    ]
    summary = "Canvas groups"

    group_field: ClassVar[str] = "group_code"
    """Read: the student's group, as the flow assigned it; blank for none."""
    outcome_field: ClassVar[str] = "canvas_group"
    """Written: the name of the Canvas group the student is in, or failed with the reason."""

    def validate(self) -> None:
        super().validate()
        if not self.configs.category.strip():
            raise ValueError("category must name a Canvas group set")

    def plan_records(
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Logger,
        get_metadata: Callable[[str], Any],
    ) -> list[Intent]:
        """Intend a join for each student whose group changed, a leave for each who left one."""
        category = self.configs.category.strip()
        intents = []
        for record, lock in records:
            with lock:
                key = str(getattr(record, self.key_field))
                user_id = getattr(record, self.user_id_field)
                wanted = (getattr(record, self.group_field) or "") if is_active(record) else ""
                current = getattr(record, self.outcome_field) or ""
            if user_id is None:
                continue
            old = "" if current.startswith("failed") else current
            params = {"user_id": user_id, "category": category}
            if wanted and wanted != current:
                line = (
                    f"move {key} from Canvas group {old} to {wanted}"
                    if old
                    else f"add {key} to Canvas group {wanted}"
                )
                intents.append(Intent("join-group", line, {**params, "group": wanted}, record))
            elif not wanted and old:
                line = f"remove {key} from Canvas group {old}"
                intents.append(Intent("leave-group", line, {**params, "group": old}, record))
        return self.planned(intents, logger)

    def batch_key(self, intent: Intent) -> Hashable:
        return (intent.action, intent.params["category"])

    def marks(self, intent: Intent, outcome: str) -> dict[str, Any]:
        return {self.outcome_field: outcome}

    def send(self, session: CanvasSession, intents: list[Intent], report: Report) -> None:
        """Carry out a batch of joins, or of leaves, of one group set; its groups read once."""
        if intents[0].action == "join-group":
            self.join_group(session, intents, report)
        else:
            self.leave_group(session, intents, report)

    def join_group(self, session: CanvasSession, intents: list[Intent], report: Report) -> None:
        """Add each student to their group (made if missing); Canvas takes them out of the old."""
        groups = self.groups(session, intents[0].params["category"], make=True)
        for intent in intents:
            name, user_id = intent.params["group"], intent.params["user_id"]

            def join(name: str = name, user_id: int = user_id, intent: Intent = intent) -> None:
                if name not in groups:
                    category: GroupCategory = groups[None]
                    groups[name] = session.write(
                        f"create Canvas group {name}", lambda: category.create_group(name=name)
                    )
                group = groups[name]
                session.write(intent.line, lambda: group.create_membership(user_id))
                report(intent, name)

            refusal_is_outcome([intent], report, join)

    def leave_group(self, session: CanvasSession, intents: list[Intent], report: Report) -> None:
        """Take each student out of their group; a group or membership already gone is fine."""
        groups = self.groups(session, intents[0].params["category"], make=False)
        for intent in intents:
            group = groups.get(intent.params["group"])
            if group is not None:
                try:
                    session.write(intent.line, partial(group.remove_user, intent.params["user_id"]))
                except CanvasRefused as exc:
                    if exc.status != 404:  # 404: not in the group any more, as wanted
                        report(intent, failed(exc.answer))
                        continue
            report(intent, "")

    def groups(self, session: CanvasSession, name: str, make: bool) -> dict[Any, Any]:
        """Return the set's groups by name, and the set itself under None (made if ``make``)."""
        course = session.course()
        categories = session.read(
            "list the course's group sets", lambda: list(course.get_group_categories())
        )
        category = next((c for c in categories if c.name == name), None)
        if category is None:
            if not make:
                return {}
            category = session.write(
                f"create Canvas group set {name}", lambda: course.create_group_category(name)
            )
            return {None: category}
        groups: list[Group] = session.read(
            f"list the groups of {name}", lambda: list(category.get_groups())
        )
        return {None: category, **{group.name: group for group in groups}}
