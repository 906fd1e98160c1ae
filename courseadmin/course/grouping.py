"""Place students into project groups within one section: pure, deterministic logic.

Group codes look like ``S01-G03``: the section code, ``-G``, and a number
that is never handed out twice within a section while any student (enrolled
or dropped) still carries it.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Collection, Mapping, Sequence


def group_code(section: str, number: int) -> str:
    return f"{section}-G{number:02d}"


def group_number(code: str, section: str) -> int | None:
    """Return the number in ``code`` if it names a group of ``section``, else None."""
    prefix, separator, number = code.rpartition("-G")
    if separator and prefix == section and number.isdigit():
        return int(number)
    return None


def place_newcomers(
    section: str,
    members: Mapping[str, str],
    newcomers: Sequence[str],
    taken_codes: Collection[str],
    group_size: int,
    rng: random.Random,
) -> dict[str, str]:
    """Return a group code for each newcomer of ``section``.

    ``members`` maps the NetIDs of students who keep their group to its code;
    ``taken_codes`` are all codes still carried, by any student of any section
    (so numbers are not reused; codes of other sections are ignored). Newcomers are shuffled by ``rng`` after sorting, so the
    result depends on the seed alone, not on record order. They first fill
    existing groups with room, emptiest first; the rest form as few new groups
    as ``group_size`` allows, with sizes differing by at most one.
    """
    order = sorted(newcomers)
    rng.shuffle(order)
    placed: dict[str, str] = {}
    sizes = Counter(members.values())
    with_room = [(size, code) for code, size in sizes.items() if size < group_size]
    heapq.heapify(with_room)
    while order and with_room:
        size, code = heapq.heappop(with_room)
        placed[order.pop()] = code
        if size + 1 < group_size:
            heapq.heappush(with_room, (size + 1, code))
    if order:
        numbers = [group_number(code, section) for code in taken_codes]
        first = max((n for n in numbers if n is not None), default=0) + 1
        count = -(-len(order) // group_size)
        for index, netid in enumerate(order):
            placed[netid] = group_code(section, first + index % count)
    return placed
