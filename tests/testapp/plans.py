"""Flow ``welcome``: a roster import and a welcome email, planned, approved and applied.

Record step ``import`` makes the roster match the JSON file its ``roster``
config names (a list of ``{"netid", "name", "email"}``): it adds, renames and
drops students. Propagate step ``welcome`` opts in to plans: it intends one
email per student with an email not yet tagged ``welcomed``, and carrying
one out appends the student's netid to the ``outbox`` file (one line per
email sent, which tests count) and tags the student ``welcomed``.

While a file ``<outbox>.refuse`` lists a student's netid, their email is
refused (the intent fails). While a file ``<outbox>.hang`` exists, carrying out the email of the student
it names writes ``<outbox>.hanging`` and then waits (up to a minute) for a
kill: a test stops an apply half way with a real SIGKILL, then resumes it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adminflow
from adminflow import AdminFlow, AdminPropagateStep, AdminRecordStep, Intent
from adminflow.storage import DjangoRecordStorer

from .models import Student

NAME = "welcome"
HANG_SECONDS = 60.0


class RosterStudents(DjangoRecordStorer[Student]):
    description = "Students by netid."
    model = Student
    key_field = "netid"


@adminflow.register_step
class ImportRosterFile(AdminRecordStep[Student]):
    description = "Make the roster match a JSON file of students: add, rename, drop."
    config_types = [("roster", str, "the JSON file listing the students")]

    def new_records(
        self, curr_records: list[Student], logger: Any, set_metadata: Any, debug: bool = False
    ) -> list[Student]:
        listed = {s["netid"]: s for s in json.loads(Path(self.configs.roster).read_text())}
        kept = []
        for student in curr_records:
            entry = listed.pop(student.netid, None)
            if entry is not None:
                student.name, student.email = entry["name"], entry.get("email", "")
                kept.append(student)
        kept += [
            Student(netid=netid, name=s["name"], email=s.get("email", ""))
            for netid, s in listed.items()
        ]
        logger(f"{len(kept)} students on the roster")
        return kept


@adminflow.register_step
class WelcomeStudents(AdminPropagateStep[Student]):
    description = "Email each student not welcomed yet; tag them welcomed."
    config_types = [("outbox", str, "the file each email sent is appended to")]

    def plan_records(self, records: Any, logger: Any, get_metadata: Any) -> Iterator[Intent]:
        for student, lock in records:
            with lock:
                if student.email and "welcomed" not in student.tags:
                    yield Intent(
                        "email",
                        f"email {student.name} <{student.email}>",
                        {"netid": student.netid, "to": student.email, "tags": student.tags},
                        record=student,
                    )

    def carry_out(self, intent: Intent, logger: Any, get_metadata: Any) -> dict[str, Any]:
        outbox = Path(self.configs.outbox)
        refused = outbox.with_name(f"{outbox.name}.refuse")
        if refused.exists() and intent.params["netid"] in refused.read_text().split():
            raise ConnectionRefusedError(f"the mail server refused {intent.params['to']}")
        hang = outbox.with_name(f"{outbox.name}.hang")
        if hang.exists() and hang.read_text().strip() == intent.params["netid"]:
            outbox.with_name(f"{outbox.name}.hanging").write_text(intent.params["netid"])
            time.sleep(HANG_SECONDS)  # a test kills the process meanwhile
        with outbox.open("a") as sent:
            sent.write(f"{intent.params['netid']}\n")
            sent.flush()
            os.fsync(sent.fileno())
        return {"tags": [*intent.params["tags"], "welcomed"]}


def welcome_config(roster: Path, outbox: Path) -> dict[str, Any]:
    return {"import": {"roster": str(roster)}, "welcome": {"outbox": str(outbox)}}


welcome = AdminFlow(
    NAME,
    "Import the roster file and welcome new students.",
    RosterStudents,
    "students",
    default_config=welcome_config(Path("roster.json"), Path("outbox.txt")),
)
welcome.add_record_step("import", ImportRosterFile)
welcome.add_propagate_step("welcome", WelcomeStudents)
adminflow.register_flow(welcome)
