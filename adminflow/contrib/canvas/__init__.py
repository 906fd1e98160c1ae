"""Canvas steps for a course: ``pip install "adminflow[canvas]"``.

Built on canvasapi. Every step takes ``base_url``, ``token`` (an
:class:`adminflow.Secret`) and ``course_id``; all steps of one run share one
client (safe across threads) and one pacer (see :mod:`.session`,
:mod:`.pacing`). Propagate steps plan intents, one per student and change,
and carry them out in batches (see :mod:`.intents`), writing each student's
outcome on the student's record; so their runs can be planned and approved.
"""

from __future__ import annotations

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
from .intents import CanvasIntents
from .messages import MessageStudents
from .roster import CanvasStudent, ImportCanvasRoster, RosterError, StudentProblem
from .session import CanvasSession
from .usernames import ReadColumnUsernames, ReadQuizUsernames

__all__ = [
    "CanvasAuthError",
    "CanvasConfigError",
    "CanvasError",
    "CanvasIntents",
    "CanvasRateLimited",
    "CanvasRefused",
    "CanvasSession",
    "CanvasStudent",
    "CanvasUnavailable",
    "ImportCanvasRoster",
    "MessageStudents",
    "PostGrades",
    "ReadColumnUsernames",
    "ReadQuizUsernames",
    "RosterError",
    "StudentProblem",
    "SyncCanvasGroups",
]
