import re
from dataclasses import dataclass

from adminflow import AdminRecordStep, AdminUpdateStep, register_step


@dataclass
class Student:
    netid: str
    github: str = ""
    github_valid: bool = False


@register_step
class AddStudents(AdminRecordStep[Student]):
    description = "Add the students the config lists (netid:github) that the roster lacks"
    config_types = [("students", list[str], "netid:github, one per student", [])]

    def new_records(self, curr_records, logger, set_metadata, debug=False):
        known = {student.netid for student in curr_records}
        added = []
        for entry in self.configs.students:
            netid, _, github = entry.partition(":")
            if netid not in known:
                added.append(Student(netid=netid, github=github))
        logger(f"{len(added)} new students")
        set_metadata("students_added", [student.netid for student in added])
        return curr_records + added


@register_step
class CheckUsernames(AdminUpdateStep[Student]):
    description = "Mark students whose GitHub username is well formed"
    config_types = [("pattern", str, "accepted usernames", r"^[A-Za-z0-9-]{1,39}$")]

    def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
        for student, lock in records:
            with lock:
                student.github_valid = bool(re.match(self.configs.pattern, student.github))
