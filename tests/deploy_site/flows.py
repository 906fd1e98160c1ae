"""Register flow ``course-roster`` when this app is installed (found by autodiscovery)."""

import adminflow

from .roster import course_roster

adminflow.register_flow(course_roster())
