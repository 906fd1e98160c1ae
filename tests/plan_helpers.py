"""Flow ``welcome`` (see :mod:`tests.testapp.plans`) set up for one test: roster, students, outbox."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adminflow.models import Flow
from tests.testapp.models import Student
from tests.testapp.plans import NAME, welcome_config


@dataclass
class Welcome:
    """Flow ``welcome`` as a test set it up: its row, its roster file and its outbox."""

    row: Flow
    roster: Path
    outbox: Path

    def list_roster(self, students: list[tuple[str, str, str]]) -> None:
        """Write the roster file: (netid, name, email) per student."""
        self.roster.write_text(
            json.dumps([{"netid": n, "name": name, "email": e} for n, name, e in students])
        )

    def sent(self) -> list[str]:
        """Return the netids emailed so far, one per email, in order."""
        return self.outbox.read_text().split() if self.outbox.exists() else []

    def refuse(self, *netids: str) -> None:
        """Make the mail server refuse these students' emails (none: accept every one)."""
        self.outbox.with_name(f"{self.outbox.name}.refuse").write_text(" ".join(netids))

    def hang_at(self, netid: str) -> None:
        """Make carrying out ``netid``'s email hang (until the process is killed)."""
        self.outbox.with_name(f"{self.outbox.name}.hang").write_text(netid)

    def unhang(self) -> None:
        self.outbox.with_name(f"{self.outbox.name}.hang").unlink()

    def hanging(self) -> bool:
        return self.outbox.with_name(f"{self.outbox.name}.hanging").exists()


def stored_students(count: int, *, prefix: str = "s") -> list[tuple[str, str, str]]:
    """Store ``count`` students (all welcomed already) and return them as roster entries."""
    students = [(f"{prefix}{i:03}", f"Student {i}", f"{prefix}{i}@uni.edu") for i in range(count)]
    Student.objects.bulk_create(
        Student(netid=n, name=name, email=e, tags=["welcomed"]) for n, name, e in students
    )
    return students


def set_up_welcome(directory: Path, **flow_fields: Any) -> Welcome:
    """Point flow ``welcome``'s stored config at files in ``directory``; set ``flow_fields``."""
    roster, outbox = directory / "roster.json", directory / "outbox.txt"
    row = Flow.objects.get(name=NAME)
    row.config = welcome_config(roster, outbox)
    for name, value in flow_fields.items():
        setattr(row, name, value)
    row.save()
    welcome = Welcome(row, roster, outbox)
    welcome.list_roster([])
    return welcome
