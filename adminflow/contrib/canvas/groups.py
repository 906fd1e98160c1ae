"""Keep a Canvas group set in step with the groups a flow assigned.

The groups are the ones a flow assigned: a value on each student record
(``group_field``). They are kept as groups of one group set (Canvas calls it
a group category), ``category``, made if missing. A student's Canvas group is
recorded by name once they are in it (``outcome_field``); a student whose
group changed is added to the new one, which takes them out of the old, as
Canvas keeps a student in one group per set; one who left their group, or
the course, is taken out. Groups and the set are made only when a student
has to join them, so a run with nothing to change sends nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

from canvasapi.group import Group, GroupCategory

from adminflow import AdminPropagateStep

from .base import CANVAS_CONFIG, is_active
from .changes import Change, ChangeStep, Report, failed, refusal_is_outcome
from .errors import CanvasRefused
from .session import CanvasSession


class SyncCanvasGroups(ChangeStep, AdminPropagateStep[Any]):
    description = (
        "Put each enrolled student in the Canvas group (of one group set) the flow assigned "
        "them, and take out those who left their group or the course."
    )
    config_types = [
        *CANVAS_CONFIG,
        ("category", str, "the Canvas group set to keep the groups in; made if missing"),
    ]
    actions = ("join_group", "leave_group")
    summary = "Canvas groups"

    group_field: ClassVar[str] = "group_code"
    """Read: the student's group, as the flow assigned it; blank for none."""
    outcome_field: ClassVar[str] = "canvas_group"
    """Written: the name of the Canvas group the student is in, or failed with the reason."""

    def validate(self) -> None:
        super().validate()
        if not self.configs.category.strip():
            raise ValueError("category must name a Canvas group set")

    def changes(
        self, records: list[tuple[Any, threading.Lock]], logger: Callable[..., Any]
    ) -> list[Change]:
        category = self.configs.category.strip()
        changes = []
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
                changes.append(Change(key, "join_group", {**params, "group": wanted}, line))
            elif not wanted and old:
                line = f"remove {key} from Canvas group {old}"
                changes.append(Change(key, "leave_group", {**params, "group": old}, line))
        return changes

    def marks(self, record: Any, change: Change, outcome: str) -> dict[str, Any]:
        return {self.outcome_field: outcome}

    def join_group(self, session: CanvasSession, changes: list[Change], report: Report) -> None:
        """Add each student to their group (made if missing); Canvas takes them out of the old."""
        groups = self.groups(session, changes[0].params["category"], make=True)
        for change in changes:
            name, user_id = change.params["group"], change.params["user_id"]

            def join(name: str = name, user_id: int = user_id, change: Change = change) -> None:
                if name not in groups:
                    category: GroupCategory = groups[None]
                    groups[name] = session.write(
                        f"create Canvas group {name}", lambda: category.create_group(name=name)
                    )
                group = groups[name]
                session.write(change.line, lambda: group.create_membership(user_id))
                report(change, name)

            refusal_is_outcome([change], report, join)

    def leave_group(self, session: CanvasSession, changes: list[Change], report: Report) -> None:
        """Take each student out of their group; a group or membership already gone is fine."""
        groups = self.groups(session, changes[0].params["category"], make=False)
        for change in changes:
            group = groups.get(change.params["group"])
            if group is not None:
                try:
                    session.write(
                        change.line, lambda g=group, c=change: g.remove_user(c.params["user_id"])
                    )
                except CanvasRefused as exc:
                    if exc.status != 404:  # 404: not in the group any more, as wanted
                        report(change, failed(exc.answer))
                        continue
            report(change, "")

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
