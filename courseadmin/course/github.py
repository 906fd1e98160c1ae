"""GitHub's rules for usernames, checked offline.

A username is 1 to 39 characters: ASCII letters, digits and single hyphens,
neither first nor last. Passing the check says the name is well formed, not
that the account exists.
"""

from __future__ import annotations

import re

MAX_LENGTH = 39
_ALLOWED = re.compile(r"[A-Za-z0-9-]+")


def username_problem(username: str) -> str | None:
    """Return why ``username`` cannot be a GitHub username, or None if it can."""
    if not username:
        return "no GitHub username was given"
    if len(username) > MAX_LENGTH:
        return f"'{username}' is longer than {MAX_LENGTH} characters"
    if not _ALLOWED.fullmatch(username):
        return f"'{username}' may contain only letters, digits and hyphens"
    if username.startswith("-") or username.endswith("-"):
        return f"'{username}' may not begin or end with a hyphen"
    if "--" in username:
        return f"'{username}' may not contain two hyphens in a row"
    return None


def is_valid_username(username: str) -> bool:
    return username_problem(username) is None
