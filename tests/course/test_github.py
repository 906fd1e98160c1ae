"""GitHub's username rules, checked offline."""

from __future__ import annotations

import pytest

from courseadmin.course.github import is_valid_username, username_problem


@pytest.mark.parametrize(
    "username", ["a", "octocat", "Octo-Cat", "a-b-c-1", "0x0", "x" * 39, "a1-" + "b" * 36]
)
def test_well_formed_usernames_pass(username):
    assert username_problem(username) is None
    assert is_valid_username(username)


@pytest.mark.parametrize(
    ("username", "problem"),
    [
        ("", "no GitHub username was given"),
        ("x" * 40, f"'{'x' * 40}' is longer than 39 characters"),
        ("octo cat", "'octo cat' may contain only letters, digits and hyphens"),
        ("octo_cat", "'octo_cat' may contain only letters, digits and hyphens"),
        ("@octocat", "'@octocat' may contain only letters, digits and hyphens"),
        ("zoë", "'zoë' may contain only letters, digits and hyphens"),
        ("octocat\n", "'octocat\n' may contain only letters, digits and hyphens"),
        ("-octocat", "'-octocat' may not begin or end with a hyphen"),
        ("octocat-", "'octocat-' may not begin or end with a hyphen"),
        ("-", "'-' may not begin or end with a hyphen"),
        ("octo--cat", "'octo--cat' may not contain two hyphens in a row"),
    ],
)
def test_malformed_usernames_fail_with_the_reason(username, problem):
    assert username_problem(username) == problem
    assert not is_valid_username(username)
