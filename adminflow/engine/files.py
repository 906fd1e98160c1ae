"""Config keys that name a file which must exist: refused when the config is checked.

A step that reads a file (a roster export) declares its key with the type
:class:`ExistingFile` instead of ``str``. The value is still a plain ``str``
in ``self.configs``; what the type adds is that a path naming no file is a
config problem wherever a config is checked (the admin's save, ``runflow
--validate``, the start of a run), not a failure half way through a run.
The admin's "Run with options" page offers a file upload for such keys.
"""

from __future__ import annotations

import os


class ExistingFile(str):
    """The config type of a key naming a file that must exist when the config is checked.

    Relative paths are taken from the working directory of the process that
    checks (and runs) the flow.
    """

    __slots__ = ()


def file_problem(path: str) -> str | None:
    """Return why ``path`` names no readable file, or None if it names one."""
    if not path.strip():
        return "expected the path of a file, got an empty string"
    if os.path.isfile(path):
        return None
    where = "" if os.path.isabs(path) else f" (relative to {os.getcwd()})"
    if os.path.isdir(path):
        return f"{path!r} is a directory{where}, not a file"
    return f"no file at {path!r}{where}"
