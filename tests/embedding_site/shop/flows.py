from adminflow import AdminFlow, register_flow
from adminflow.storage import DjangoRecordStorer

from .models import Member
from .steps import NormalizeEmails


class Members(DjangoRecordStorer[Member]):
    description = "The shop's members"
    model = Member


@register_flow
def tidy_members() -> AdminFlow:
    flow = AdminFlow("tidy-members", "Tidy the members' email addresses", Members, "members")
    flow.add_update_step("normalize-emails", NormalizeEmails)
    return flow
