"""A courseflow-shaped course module, written as a courseflow user writes one.

Only the import lines differ from courseflow: a record storer generic in its
record type (it learns the type from ``self.__orig_class__``, as courseflow's
``SpreadsheetStorer`` does), a generic record step that builds a storer of
its own from a config dict, steps whose parameters have their own names
(courseflow calls them by position) and a storer that declares ``debug``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, get_args

from adminflow import (
    FlowPropagateStep,
    FlowRecordStep,
    FlowUpdateStep,
    RecordStorer,
    ValidConfigTypes,
)

RecordType = TypeVar("RecordType")


@dataclass
class LabTag:
    """One student's tag for one lab: which commit, and whether it was pushed."""

    netid: str
    lab: str = ""
    commit: str = ""
    pushed: bool = False


@dataclass
class Student:
    """A roster row, as the roster file holds it."""

    netid: str
    name: str


class RecordTypeOf(Generic[RecordType]):
    """Read the record type a generic instance was built with, courseflow style."""

    def record_type(self) -> type:
        (record_type,) = get_args(self.__orig_class__)  # type: ignore[attr-defined]
        return record_type


class JsonFileStorer(RecordTypeOf[RecordType], RecordStorer[RecordType]):
    """Records of any dataclass type in a JSON file; in debug mode it writes nothing."""

    description = "records kept in a JSON file"
    config_types: list[tuple[str, type[ValidConfigTypes], str]] = [
        ("file_path", str, "the JSON file the records live in"),
    ]

    def get_records(self, logger: Callable[[str], None], debug: bool = False) -> list[RecordType]:
        path = Path(self.configs.file_path)
        rows = json.loads(path.read_text()) if path.exists() else []
        if debug:
            logger(f"debug load of {len(rows)} rows")
        return [self.record_type()(**row) for row in rows]

    def set_records(
        self, rec_list: list[RecordType], logger: Callable[[str], None], debug: bool = False
    ) -> None:
        if debug:
            logger(f"debug: would write {len(rec_list)} records to {self.configs.file_path}")
            return
        rows = [asdict(record) for record in rec_list]  # type: ignore[call-overload]
        Path(self.configs.file_path).write_text(json.dumps(rows))


class GetTagRecords(RecordTypeOf[RecordType], FlowRecordStep[RecordType]):
    """Add a tag record for every student on the roster who has none yet."""

    description = "add a tag record per student on the roster"
    config_types = [
        ("roster_path", str, "the roster's JSON file"),
        ("lab", str, "the lab to tag"),
    ]

    def new_records(
        self,
        recs: list[RecordType],
        log: Callable[[str], None],
        set_md: Callable[[str, object], None],
        debug: bool = False,
    ) -> list[RecordType]:
        roster = JsonFileStorer[Student]({"file_path": self.configs.roster_path})
        students = roster.get_records(log)
        known = {record.netid for record in recs}  # type: ignore[attr-defined]
        new = [
            self.record_type()(netid=s.netid, lab=self.configs.lab)
            for s in students
            if s.netid not in known
        ]
        set_md("new-tags", len(new))
        log(f"{len(new)} new tag records")
        return recs + new


class ChooseCommits(FlowUpdateStep[LabTag]):
    """Pick the commit to tag for each record; changes nothing outside."""

    description = "choose the commit to tag"
    config_types = [("commit_prefix", str, "what each chosen commit starts with")]

    def update_records(
        self,
        recs: list[tuple[LabTag, threading.Lock]],
        log: Callable[[str], None],
        get_md: Callable[[str], Any],
        set_md: Callable[[str, object], None],
        debug: bool = False,
    ) -> None:
        for record, lock in recs:
            with lock:
                record.commit = f"{self.configs.commit_prefix}-{record.netid}"
        set_md("chosen", len(recs))
        log(f"new this run: {get_md('new-tags')}")


class PushTags(FlowPropagateStep[LabTag]):
    """Push each chosen tag and write down that it was pushed; in debug mode, only say so."""

    description = "push the tags"
    config_types = [("fail", bool, "fail instead of pushing", False)]

    def propagate_records(
        self,
        recs: list[tuple[LabTag, threading.Lock]],
        log: Callable[[str], None],
        get_md: Callable[[str], Any],
        debug: bool = False,
    ) -> None:
        if self.configs.fail:
            raise RuntimeError("the tag server refused the push")
        for record, lock in recs:
            with lock:
                if debug:
                    log(f"would push {record.commit}")
                elif not record.pushed:
                    record.pushed = True
                    log(f"pushed {record.commit}")
        log(f"{get_md('chosen')} tags chosen")
