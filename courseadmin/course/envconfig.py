"""Config defaults read from the environment, for the site's integration steps.

Tokens never enter a stored config: each is its step's default, read from the
environment (or the ``.env`` file the settings read) when the site starts, so
every process that runs flows (web server, task worker, ``runflow``) needs the
variable, and a change needs a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import environ

env = environ.Env()


def with_env_defaults(
    config_types: Sequence[tuple[Any, ...]], **variables: str
) -> list[tuple[Any, ...]]:
    """Return ``config_types`` with each named key defaulting to its environment variable.

    ``token="GITHUB_TOKEN"`` makes ``token`` default to ``$GITHUB_TOKEN``, its
    description saying so; keys not named are kept as they are.
    """
    entries = []
    for entry in config_types:
        name, kind, description = entry[:3]
        if name in variables:
            variable = variables[name]
            entry = (
                name,
                kind,
                f"{description} (default: ${variable})",
                env.str(variable, default=""),
            )
        entries.append(entry)
    return entries
