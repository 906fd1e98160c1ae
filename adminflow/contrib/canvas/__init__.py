"""Canvas steps for a course: ``pip install "adminflow[canvas]"``.

Built on canvasapi. Every step takes ``base_url``, ``token`` (an
:class:`adminflow.Secret`) and ``course_id``; all steps of one run share one
client (safe across threads) and one pacer (see :mod:`.session`,
:mod:`.pacing`). Propagate steps decide their changes as data first and
carry them out after (see :mod:`.changes`), writing each student's outcome
on the student's record.
"""

from __future__ import annotations

from .changes import Change, ChangeStep
from .errors import (
    CanvasAuthError,
    CanvasConfigError,
    CanvasError,
    CanvasRateLimited,
    CanvasRefused,
    CanvasUnavailable,
)
from .grades import PostGrades
from .groups import SyncCanvasGroups
from .messages import MessageStudents
from .roster import CanvasStudent, ImportCanvasRoster, RosterError, StudentProblem
from .session import CanvasSession
from .usernames import ReadColumnUsernames, ReadQuizUsernames

__all__ = [
    "CanvasAuthError",
    "CanvasConfigError",
    "CanvasError",
    "CanvasRateLimited",
    "CanvasRefused",
    "CanvasSession",
    "CanvasStudent",
    "CanvasUnavailable",
    "Change",
    "ChangeStep",
    "ImportCanvasRoster",
    "MessageStudents",
    "PostGrades",
    "ReadColumnUsernames",
    "ReadQuizUsernames",
    "RosterError",
    "StudentProblem",
    "SyncCanvasGroups",
]
