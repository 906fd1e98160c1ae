"""The demo course over two weeks, run the way the docs run it: load_demo, then runflow.

Week 1 imports the bundled roster with the flow's stored default config.
Week 2 reads the later roster (three drops, five adds, four fixed usernames,
one malformed row) through ``runflow --config``. Everything the runs leave
behind is checked exactly: students, groups, emails and the audit trail.
"""

from __future__ import annotations

import io
from collections import Counter

import pytest
from django.core.management import call_command

from adminflow.models import FlowRun, RecordChange
from courseadmin.course.models import Group, Student
from tests.course.conftest import DEMO, ROOT, STAFF

pytestmark = pytest.mark.django_db(transaction=True)

WEEK1_SIZES = {
    **{f"S01-G0{n}": 4 for n in range(1, 6)},
    **{f"S02-G0{n}": 4 for n in range(1, 5)},
    "S02-G05": 3,
    "S02-G06": 3,
    **{f"S03-G0{n}": 4 for n in range(1, 4)},
    "S03-G04": 3,
    "S03-G05": 3,
}
WEEK1_REMINDED = [
    "ap8942", "aw6097", "ca9279", "cm5631", "er9746", "ha7520", "hs968",
    "hs9951", "jl2142", "jr6502", "rr7194", "sp4954", "tm6713", "vs8034",
]  # fmt: skip
ADDED = ["ai7672", "cb4021", "eb7940", "gv3533", "ja784"]
DROPPED = ["cm5631", "ec7851", "jj4224"]
FIXED = {"ap8942": "apuga", "ca9279": "cakar", "er9746": "eroos", "ha7520": "hahlberg"}
WEEK2_GROUPED = {
    "ai7672": "S01-G04",  # the seat cm5631 left
    "cb4021": "S03-G04",
    "eb7940": "S03-G02",  # the seat jj4224 left
    "gv3533": "S02-G05",  # the seat ec7851 left
    "ja784": "S01-G06",  # S01's groups are full again: a new group
}
WEEK2_SUMMARY = """\
Roster update

Added (5):
  - 池田 明美 (ai7672), S01
  - Charlie Berg (cb4021), S03
  - Elin Berglund (eb7940), S03
  - Gilles Verdier (gv3533), S02
  - Jane Đặng (ja784), S01

Dropped (3):
  - Cauê Mendonça (cm5631), S01
  - Elizabeth Chapman (ec7851), S02
  - Jason Johnson (jj4224), S03

Roster rows NOT imported (1); fix them at the source:
  - line 13: expected 6 fields, found 5

Reminded about GitHub usernames (1):
  - Charlie Berg (cb4021) <cb4021@students.example.edu>

Groups formed (1):
  - S01-G06: Jane Đặng

Enrolled students without a GitHub username: 6
Enrolled students with an invalid GitHub username: 4

Enrolled by section:
  - S01: 21
  - S02: 22
  - S03: 19
"""


def runflow(*args: str) -> FlowRun:
    call_command("runflow", *args, stdout=io.StringIO(), stderr=io.StringIO())
    return FlowRun.objects.latest("pk")


def group_sizes() -> Counter[str]:
    return Counter(Student.objects.enrolled().values_list("group_code", flat=True))


@pytest.fixture
def demo(db, monkeypatch, settings) -> None:
    monkeypatch.chdir(ROOT)  # the stored config names the roster relative to the project
    settings.COURSE_STAFF_EMAILS = STAFF
    call_command("load_demo", stdout=io.StringIO())


def test_two_weeks_of_roster_sync_on_the_demo_course(demo, mailoutbox):
    week1 = runflow("roster-sync")

    assert week1.status == "succeeded"
    assert (week1.records_loaded, week1.records_added, week1.records_changed) == (0, 60, 0)
    assert Counter(Student.objects.values_list("section__code", "status")) == {
        ("S01", "enrolled"): 20,
        ("S02", "enrolled"): 22,
        ("S03", "enrolled"): 18,
    }
    assert group_sizes() == WEEK1_SIZES
    assert sorted(Group.objects.values_list("code", flat=True)) == sorted(WEEK1_SIZES)
    assert sorted(m.to[0].partition("@")[0] for m in mailoutbox[:-1]) == WEEK1_REMINDED
    assert mailoutbox[-1].to == STAFF
    assert (
        mailoutbox[-1].subject == "Roster update: 60 added, 0 dropped, 14 reminded, 16 new groups"
    )
    netids = {
        line.split(",")[0]
        for line in (DEMO / "roster-week1.csv").read_text("utf-8-sig").splitlines()[1:]
    }
    assert Counter(RecordChange.objects.filter(run=week1).values_list("action", flat=True)) == {
        "added": 60
    }
    assert set(RecordChange.objects.filter(run=week1).values_list("key", flat=True)) == netids
    week1_state = dict(Student.objects.values_list("netid", "group_code"))
    mailoutbox.clear()

    week2 = runflow("roster-sync", "--config", str(DEMO / "roster-sync-week2.yaml"))

    assert week2.status == "succeeded"
    assert week2.metadata["roster_added"] == ADDED
    assert week2.metadata["roster_dropped"] == DROPPED
    assert week2.metadata["roster_updated"] == sorted(FIXED)
    assert week2.metadata["roster_malformed"] == ["line 13: expected 6 fields, found 5"]
    assert Student.objects.get(netid="jh3938").status == "enrolled"  # its row was the bad one
    assert (
        sorted(Student.objects.filter(status="dropped").values_list("netid", flat=True)) == DROPPED
    )
    assert {
        s.netid: (s.github_username, s.github_username_valid)
        for s in Student.objects.filter(netid__in=FIXED)
    } == {netid: (username, True) for netid, username in FIXED.items()}
    codes = dict(Student.objects.values_list("netid", "group_code"))
    assert {netid: codes[netid] for netid in week1_state} == week1_state  # nobody moved
    assert {netid: codes[netid] for netid in ADDED} == WEEK2_GROUPED
    # Each drop left a seat that a newcomer took (S01-G04, S02-G05, S03-G02); cb4021 filled
    # S03-G04, one of S03's two groups of three; ja784 found S01 full and starts S01-G06.
    assert group_sizes() == {**WEEK1_SIZES, "S03-G04": 4, "S01-G06": 1}
    assert Group.objects.count() == 17
    assert week2.metadata["reminded"] == ["cb4021"]  # the others were reminded within 72 hours
    reminder, summary = mailoutbox
    assert reminder.to == ["cb4021@students.example.edu"]
    assert (summary.to, summary.subject, summary.body) == (
        STAFF,
        "Roster update: 5 added, 3 dropped, 1 reminded, 1 new group",
        WEEK2_SUMMARY,
    )
    changes = RecordChange.objects.filter(run=week2)
    assert sorted(
        (c.key, c.after["group_code"], c.after["status"]) for c in changes.filter(action="added")
    ) == [(netid, WEEK2_GROUPED[netid], "enrolled") for netid in ADDED]
    assert sorted((c.key, c.before, c.after) for c in changes.filter(action="changed")) == sorted(
        [
            *((netid, {"status": "enrolled"}, {"status": "dropped"}) for netid in DROPPED),
            *(
                (
                    netid,
                    {
                        "github_username": "hannes-ahlberg_" if netid == "ha7520" else "",
                        "github_username_valid": False,
                    },
                    {"github_username": username, "github_username_valid": True},
                )
                for netid, username in FIXED.items()
            ),
        ]
    )
    assert not changes.filter(action="removed").exists()
    assert (week2.records_added, week2.records_changed, week2.records_removed) == (5, 7, 0)
