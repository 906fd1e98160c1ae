from adminflow import AdminFlow, register_flow
from adminflow.storage import DjangoRecordStorer

from .steps import AddStudents, CheckUsernames, Student


class Roster(DjangoRecordStorer[Student]):
    description = "The course's students, kept in adminflow's Record table"
    record_type = Student
    key = "netid"


@register_flow
def usernames() -> AdminFlow:
    flow = AdminFlow("usernames", "Check GitHub usernames", Roster, "roster")
    flow.add_record_step("add-students", AddStudents)
    flow.add_update_step("check-usernames", CheckUsernames)
    return flow
