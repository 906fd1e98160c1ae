"""GitHub saying no: a secondary rate limit, a burst of 5xx, a bad token."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from adminflow import RunStatus, StepStatus
from tests.fake_github import FakeGitHub

from .conftest import TOKEN, LogLines, make_course

SPACING = 0.05


def test_a_secondary_rate_limit_mid_run_waits_as_asked_and_finishes(
    fake_github: FakeGitHub, onboard: Callable[..., Any]
) -> None:
    course = make_course(fake_github, 6)
    fake_github.secondary_rate_limit_at(write_number=5, retry_after=1)
    log = LogLines()

    result = onboard(fake_github, course, write_spacing=SPACING, observers=[log])

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert len(fake_github.invitations) == 6
    assert {s.github_repo for s in course.students} == {"done"}
    assert any("secondary rate limit" in line for line in log.of("attempt 1 of 5 failed"))
    times = fake_github.write_times
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    print(
        f"\nwrites: {len(times)}; gap after the rate limit: {gaps[4]:.3f} s (retry-after 1 s); "
        f"other gaps: min {min(gaps[:4] + gaps[5:]):.3f} s, "
        f"max {max(gaps[:4] + gaps[5:]):.3f} s (spacing {SPACING} s)"
    )
    # Writes never overlap whatever num_threads is: they are one queue. No timing asserted.
    assert len(times) == fake_github.writes


def test_a_burst_of_5xx_is_retried_with_backoff_and_nothing_is_done_twice(
    fake_github: FakeGitHub, onboard: Callable[..., Any]
) -> None:
    course = make_course(fake_github, 5)
    onboard(fake_github, course, repos="exclude", teams="exclude", invite="exclude")
    fake_github.fail_next(3, status=502)

    result = onboard(fake_github, course, repos="exclude", teams="exclude")

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.steps["invite"].attempts > 1
    assert len(fake_github.invitations) == 5
    assert sum(1 for m, p, s in fake_github.requests if m == "POST" and s == 201) == 5


def test_a_bad_token_is_one_clear_error_and_nothing_is_done(
    fake_github: FakeGitHub, onboard: Callable[..., Any]
) -> None:
    course = make_course(fake_github, 5)
    fake_github.token = "someone-elses-token"

    result = onboard(fake_github, course)

    assert result.status is RunStatus.FAILED
    check = result.steps["check-accounts"]
    assert check.status is StepStatus.FAILED
    assert "GitHub refused the token" in check.error
    assert check.attempts == 1  # not worth retrying
    assert all(
        result.steps[s].status is StepStatus.UPSTREAM_FAILED
        or result.steps[s].status is StepStatus.SKIPPED
        for s in ("invite", "repos")
    )
    assert fake_github.writes == 0
    assert TOKEN not in check.error
    assert TOKEN not in (check.traceback or "")
    assert {s.github_account for s in course.students} == {""}  # nothing stored
