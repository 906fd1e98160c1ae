"""A flow over typed records in the generic ``Record`` table, for tests of what its storer says."""

from __future__ import annotations

from dataclasses import dataclass

from adminflow import AdminFlow
from adminflow.storage import DjangoRecordStorer

from .engine.helpers import record_step


@dataclass
class Member:
    netid: str
    name: str


class Members(DjangoRecordStorer[Member]):
    record_type = Member
    key = "netid"


def members_flow() -> AdminFlow:
    """Return flow ``roster``: it loads collection ``roster.members`` and adds member ``cy``."""
    flow = AdminFlow("roster", "keeps members", Members, "members")
    flow.add_record_step("add", record_step(lambda call: [*call.records, Member("cy", "Cy")]))
    return flow
