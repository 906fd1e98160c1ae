"""Placing students into groups: deterministic, filling before forming, balanced."""

from __future__ import annotations

import random
from collections import Counter

from courseadmin.course.grouping import group_code, group_number, place_newcomers


def place(members, newcomers, taken=None, size=4, seed=7, section="S01"):
    taken = set(members.values()) if taken is None else taken
    return place_newcomers(
        section, members, newcomers, taken, size, random.Random(f"{seed}/{section}")
    )


def test_codes_name_the_section_and_a_number():
    assert group_code("S01", 3) == "S01-G03"
    assert group_code("LAB-2", 112) == "LAB-2-G112"
    assert group_number("LAB-2-G112", "LAB-2") == 112
    assert group_number("S01-G03", "S02") is None
    assert group_number("S01-Gx", "S01") is None


def test_new_groups_are_balanced_and_never_larger_than_the_size():
    placed = place({}, [f"n{i:02d}" for i in range(10)])

    assert sorted(Counter(placed.values()).values()) == [3, 3, 4]
    assert set(placed.values()) == {"S01-G01", "S01-G02", "S01-G03"}


def test_the_same_seed_gives_the_same_groups_whatever_the_order_of_students():
    netids = [f"n{i:02d}" for i in range(13)]

    first = place({}, netids, seed=11)

    assert place({}, list(reversed(netids)), seed=11) == first
    assert place({}, netids, seed=12) != first


def test_one_student_forms_a_group_of_one():
    assert place({}, ["solo"]) == {"solo": "S01-G01"}


def test_newcomers_fill_groups_with_room_emptiest_first_before_forming_new_ones():
    members = {
        "a1": "S01-G01", "a2": "S01-G01", "a3": "S01-G01",
        "b1": "S01-G02", "b2": "S01-G02",
        "c1": "S01-G03", "c2": "S01-G03", "c3": "S01-G03", "c4": "S01-G03",
    }  # fmt: skip

    placed = place(members, ["x", "y", "z", "w", "v", "u"])

    assert Counter(placed.values()) == {"S01-G02": 2, "S01-G01": 1, "S01-G04": 3}


def test_new_numbers_continue_after_every_code_still_carried_even_by_dropped_students():
    placed = place({"a1": "S01-G01"}, ["x", "y"], taken={"S01-G01", "S01-G07", "S02-G09"}, size=1)

    assert sorted(placed.values()) == ["S01-G08", "S01-G09"]
