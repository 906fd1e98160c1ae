"""``manage.py load_demo``: set up the demo course so its flows have something to work on.

The students are not loaded here: importing them is the job of the
``roster-sync`` flow, which reads the bundled week 1 roster by default.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from courseadmin.course.models import Section

DEMO_SECTIONS = {
    "S01": "Mon/Wed 09:00, Gates 104",
    "S02": "Tue/Thu 13:00, Gates 220",
    "S03": "Fri 10:00, online",
}


class Command(BaseCommand):
    help = "Create the demo course's sections (again, harmlessly, if they exist)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            for code, title in DEMO_SECTIONS.items():
                Section.objects.update_or_create(code=code, defaults={"title": title})
        self.stdout.write(
            f"Demo sections: {', '.join(DEMO_SECTIONS)}.\n"
            "Import the week 1 roster:  python manage.py runflow roster-sync\n"
            "Then week 2:               python manage.py runflow roster-sync "
            "--config courseadmin/course/demo/roster-sync-week2.yaml"
        )
