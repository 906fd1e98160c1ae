"""Read students' GitHub usernames from Canvas: a quiz's answers or a gradebook column.

Both are update steps: they only read Canvas and change records. A blank
answer leaves the record as it is; a new answer replaces the old one (the
student's latest word wins). Answers are cleaned of spaces, a leading ``@``
and a ``https://github.com/`` prefix, which students often paste.

- :class:`ReadQuizUsernames`: the quiz's assignment submissions with their
  history (``include[]=submission_history``); the newest attempt's answer to
  ``question_id`` (or its first non-blank answer, with ``question_id`` 0).
- :class:`ReadColumnUsernames`: the entries of the custom gradebook column
  titled ``column``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from canvasapi.assignment import Assignment

from adminflow import AdminUpdateStep
from adminflow.engine.steps import Logger

from .base import CANVAS_CONFIG, CanvasStep
from .errors import CanvasConfigError
from .session import CanvasSession

_PREFIX = re.compile(r"^(?:https?://)?(?:www\.)?github\.com/|^@")


def clean_username(answer: str) -> str:
    """Return a username as a student typed it, without a URL prefix, ``@`` or spaces."""
    return _PREFIX.sub("", " ".join(re.sub(r"<[^>]*>", " ", answer).split())).strip("/ ")


class UsernameReader(CanvasStep, AdminUpdateStep[Any]):
    """What both readers share: writing the answers found on the students."""

    username_field: ClassVar[str] = "github_username"
    """Written: the GitHub username, as the student gave it."""

    def source(self) -> str:
        """Return where the answers come from, for the log."""
        raise NotImplementedError

    def answers(self, session: CanvasSession) -> dict[int, str]:
        """Return each student's answer by Canvas user id."""
        raise NotImplementedError

    # No debug: an update step changes nothing outside the flow, so debug changes nothing
    # here; the engine passes only the arguments a step takes (engine.steps.CALL_ARGUMENTS).
    def update_records(  # type: ignore[override]
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Logger,
        get_metadata: Callable[[str], Any],
        set_metadata: Callable[[str, Any], None],
    ) -> None:
        answers = self.answers(self.session(get_metadata))
        changed = 0
        for record, lock in records:
            with lock:
                answer = clean_username(answers.get(getattr(record, self.user_id_field), ""))
                old = getattr(record, self.username_field)
                if answer and answer != old:
                    setattr(record, self.username_field, answer)
                    changed += 1
                    key = getattr(record, self.key_field)
                    logger(f"{key}: GitHub username {old or '(none)'} -> {answer}")
        logger(f"{len(answers)} answers in {self.source()}; {changed} usernames changed")


class ReadQuizUsernames(UsernameReader):
    description = "Read each student's GitHub username from their answer to a Canvas quiz"
    config_types = [
        *CANVAS_CONFIG,
        ("quiz_id", int, "the quiz asking for the username: the number after /quizzes/"),
        ("question_id", int, "the question's id; 0 takes the first answer that is not blank", 0),
    ]

    def source(self) -> str:
        return f"quiz {self.configs.quiz_id}"

    def answers(self, session: CanvasSession) -> dict[int, str]:
        course = session.course()
        quiz_id = self.configs.quiz_id
        quiz = session.not_found(
            "quiz_id", f"quiz {quiz_id}", lambda: course.get_quiz(quiz_id), f"read quiz {quiz_id}"
        )
        if not getattr(quiz, "assignment_id", None):
            raise CanvasConfigError(f"quiz_id: quiz {quiz_id} is not published: it has no answers")
        assignment = Assignment(
            session.requester, {"id": quiz.assignment_id, "course_id": course.id}
        )
        submissions = session.read(
            f"list the answers to quiz {quiz_id}",
            lambda: list(assignment.get_submissions(include=["submission_history"])),
        )
        return {
            s.user_id: answer
            for s in submissions
            if (answer := self.answer(getattr(s, "submission_history", None) or []))
        }

    def answer(self, history: list[dict[str, Any]]) -> str:
        """Return the newest attempt's answer to the question, or ""."""
        for attempt in sorted(history, key=lambda a: a.get("attempt") or 0, reverse=True):
            for item in attempt.get("submission_data") or []:
                wanted = self.configs.question_id
                if (not wanted or item.get("question_id") == wanted) and str(
                    item.get("text") or ""
                ).strip():
                    return str(item["text"])
        return ""


class ReadColumnUsernames(UsernameReader):
    description = "Read each student's GitHub username from a custom column of the Canvas gradebook"
    config_types = [
        *CANVAS_CONFIG,
        ("column", str, "the title of the custom gradebook column holding the usernames"),
    ]

    def validate(self) -> None:
        super().validate()
        if not self.configs.column.strip():
            raise ValueError("column must be the title of a custom gradebook column")

    def source(self) -> str:
        return f"column '{self.configs.column}'"

    def answers(self, session: CanvasSession) -> dict[int, str]:
        course = session.course()
        title = self.configs.column.strip()
        columns = session.read(
            "list the custom gradebook columns", lambda: list(course.get_custom_columns())
        )
        column = next((c for c in columns if c.title.strip().lower() == title.lower()), None)
        if column is None:
            found = ", ".join(f"'{c.title}'" for c in columns) or "none"
            raise CanvasConfigError(
                f"column: course {course.id} has no custom gradebook column '{title}' "
                f"(found: {found})"
            )
        entries = session.read(f"read column '{title}'", lambda: list(column.get_column_entries()))
        return {entry.user_id: entry.content or "" for entry in entries}
