"""A data-defined flow whose steps do their best to leak a secret config value.

A stored spec names registered types only, so the test registers these
(:func:`registered`) in its own process and in its ``db_worker``'s. The
storer and two steps take the secret:
they log it, put it in metadata, print it in an exception, and the storer
keeps typed records (``Record`` rows with ``RecordChange`` audit rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from adminflow import AdminPropagateStep, AdminRecordStep, AdminUpdateStep, Secret
from adminflow.registry import step_registry
from adminflow.storage import DjangoRecordStorer

SECRET = "s3cr3t-TOKEN-x9"


@dataclass
class Member:
    netid: str
    name: str


class LeakyStorer(DjangoRecordStorer):
    description = "Members, fetched with the registrar's key."
    record_type = Member
    key = "netid"
    collection = "leaky-members"
    config_types = [("api_key", Secret, "the registrar's API key")]

    def get_records(self, logger: Any) -> list[Member]:
        logger(f"asking the registrar with key {self.configs.api_key.reveal()}")
        return super().get_records(logger)


class AddMember(AdminRecordStep):
    description = "Add one member, logging the token on the way."
    config_types = [("token", Secret, "the API token")]

    def new_records(self, curr_records, logger, set_metadata, debug=False):
        token = self.configs.token.reveal()
        logger(f"calling the API with {token}")
        logger.warning(f"Authorization: Bearer {token}")
        logger(self.configs)
        set_metadata("auth_header", f"Bearer {token}")
        set_metadata("token", self.configs.token)
        return [*curr_records, Member(f"m{len(curr_records)}", "A. Member")]


class Rename(AdminUpdateStep):
    description = "Change every member's name."

    def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
        for record, lock in records:
            with lock:
                record.name = f"{record.name}!"
        logger(f"renamed with {get_metadata('auth_header')}")


class Notify(AdminPropagateStep):
    description = "Tell the API, which refuses the token."
    config_types = [("token", Secret, "the API token")]

    def propagate_records(self, records, logger, get_metadata, debug=False):
        token = self.configs.token.reveal()
        logger.error(f"the API refused {token}")
        raise PermissionError(f"401 for token {token!r} at https://api.example.edu/?key={token}")


TYPES = {
    "LeakyStorer": LeakyStorer,
    "LeakyAddMember": AddMember,
    "LeakyRename": Rename,
    "LeakyNotify": Notify,
}

SPEC = {
    "description": "Leaks its secret everywhere it can.",
    "storer": {"type": "LeakyStorer", "name": "members"},
    "steps": [
        {"name": "add", "type": "LeakyAddMember"},
        {"name": "rename", "type": "LeakyRename"},
        {"name": "notify", "type": "LeakyNotify"},
    ],
}


@contextmanager
def registered() -> Iterator[None]:
    """Register the leaky types while the block runs."""
    for name, cls in TYPES.items():
        step_registry.register(cls, name=name)
    try:
        yield
    finally:
        for name in TYPES:
            step_registry.unregister(name)


CONFIG = {"members": {"api_key": SECRET}, "add": {"token": SECRET}, "notify": {"token": SECRET}}
