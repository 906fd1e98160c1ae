"""A stateful fake of the part of Canvas's REST API the Canvas steps use, on 127.0.0.1.

Test support, not product. Payloads, status codes, pagination and headers
follow Canvas LMS's published REST API documentation (the ``@API`` comments
of canvas-lms' controllers, served as canvas.instructure.com/doc/api); only
the fields the steps and canvasapi read are filled. Paths start with
``/api/v1``. Lists take ``per_page`` (default 10, at most 100) and ``page``
and answer with a ``Link`` header (``rel="current"``, ``"next"``, ``"prev"``,
``"first"``, ``"last"``; "Pagination"). Every answer carries ``X-Request-Cost``
and ``X-Rate-Limit-Remaining`` ("Throttling"). A request without the token
answers 401 "Invalid access token." with ``WWW-Authenticate``; bodies are
read as form fields (``grade_data[3][posted_grade]=88``), as canvasapi sends.

The documented operations it serves:

======  ==========================================================  ===============================
method  path (under /api/v1)                                        Canvas's title
======  ==========================================================  ===============================
GET     /courses/:id                                                Get a single course
GET     /courses/:course_id/sections                                List course sections
GET     /courses/:course_id/enrollments (type[], state[])           List enrollments
GET     /courses/:course_id/quizzes/:id                             Get a single quiz
GET     /courses/:course_id/assignments/:id                         Get a single assignment
GET     /courses/:course_id/assignments/:id/submissions             List assignment submissions
                                                                    (include[]=submission_history)
POST    /courses/:course_id/assignments/:id/submissions/update_grades
                                                                    Grade or comment on multiple
                                                                    submissions (answers Progress)
GET     /progress/:id                                               Query progress
GET     /courses/:course_id/custom_gradebook_columns                List custom gradebook columns
GET     /courses/:course_id/custom_gradebook_columns/:id/data       List entries for a column
GET     /courses/:course_id/group_categories                        List group categories for a context
POST    /courses/:course_id/group_categories                        Create a Group Category
GET     /group_categories/:group_category_id/groups                 List groups in group category
POST    /group_categories/:group_category_id/groups                 Create a group
POST    /groups/:group_id/memberships                               Create a membership
DELETE  /groups/:group_id/users/:user_id                            Leave a group
POST    /conversations                                              Create a conversation
======  ==========================================================  ===============================

As Canvas does, a new membership takes the student out of the other groups
of the same group category, and a bulk grade update is a job: its Progress
is ``queued``, then ``running``, then ``completed`` (or ``failed``, naming
students who are not in the course), one step per query.

Faults a test can arm: :meth:`FakeCanvas.throttle_at` answers one request
with 403 ``403 Forbidden (Rate Limit Exceeded)`` and a negative
``X-Rate-Limit-Remaining``; :meth:`FakeCanvas.fail_next` answers the next
requests with a 5xx; :meth:`FakeCanvas.fail_write` answers one chosen write
(the n-th to a path) with a 5xx. It counts reads (GET) and writes (everything else).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fake_server import FakeServer

TOKEN = "7~fakeCanvasTokenForTests0123456789abcdefABCDEFGHIJ"
"""The one token the suite's fake accepts."""
COURSE_ID = 4242
THROTTLED = "403 Forbidden (Rate Limit Exceeded)\n"
MAX_GROUP_CONVERSATION = 100
"""Canvas's default ``max_group_conversation_size``: private batches are capped by it too."""
API = "/api/v1"


class Answer(Exception):
    """Raise inside a route to answer with an error status and Canvas's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body: Any = {"errors": [{"message": message}]}


def not_found() -> Answer:
    return Answer(404, "The specified resource does not exist.")


@dataclass
class Enrollment:
    id: int
    user_id: int
    section_id: int
    state: str = "active"
    type: str = "StudentEnrollment"


@dataclass
class Group:
    id: int
    name: str
    category_id: int
    members: set[int] = field(default_factory=set)


@dataclass
class Progress:
    id: int
    assignment_id: int
    grades: dict[int, str]
    state: str = "queued"
    message: str | None = None


class FakeCanvas(FakeServer):
    """Canvas's state for one course, and the HTTP server that serves it."""

    def __init__(self, course_id: int, token: str) -> None:
        super().__init__()
        self.course_id = course_id
        self.token = token
        self.lock = threading.Lock()
        self.ids = itertools.count(100)
        self.sections: dict[int, str] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.enrollments: list[Enrollment] = []
        self.quizzes: dict[int, int] = {}  # quiz id -> its assignment id
        self.assignments: dict[int, str] = {}
        self.answers: dict[
            int, dict[int, list[dict[str, Any]]]
        ] = {}  # assignment -> user -> history
        self.columns: dict[int, tuple[str, dict[int, str]]] = {}
        self.grades: dict[int, dict[int, str]] = {}  # assignment -> user -> posted grade
        self.progress: dict[int, Progress] = {}
        self.categories: dict[int, str] = {}
        self.groups: dict[int, Group] = {}
        self.conversations: list[dict[str, Any]] = []
        self.remaining = 700.0
        self.reads = 0
        self.writes = 0
        self.requests: list[tuple[str, str, int]] = []
        self._throttle_at: int | None = None
        self._failures: list[int] = []
        self._write_fault: list[Any] = []  # [path end, writes to it still to let through, status]

    # Test set-up

    def add_section(self, name: str) -> int:
        with self.lock:
            section_id = next(self.ids)
            self.sections[section_id] = name
            return section_id

    def enroll(
        self, login_id: str, name: str, section: int, sis_user_id: str = "", state: str = "active"
    ) -> int:
        """Enroll a new user as a student; return their Canvas user id."""
        with self.lock:
            user_id = next(self.ids)
            first, _, last = name.rpartition(" ")
            self.users[user_id] = {
                "id": user_id,
                "name": name,
                "sortable_name": f"{last}, {first}" if first else name,
                "short_name": name,
                "login_id": login_id,
                "sis_user_id": sis_user_id or None,
            }
            self.enrollments.append(Enrollment(next(self.ids), user_id, section, state))
            return user_id

    def set_state(self, user_id: int, state: str) -> None:
        """Change a student's enrollment state (``deleted``, ``completed``, ``active``...)."""
        with self.lock:
            for enrollment in self.enrollments:
                if enrollment.user_id == user_id:
                    enrollment.state = state

    def add_assignment(self, name: str) -> int:
        with self.lock:
            assignment_id = next(self.ids)
            self.assignments[assignment_id] = name
            return assignment_id

    def add_quiz(self, title: str) -> int:
        assignment_id = self.add_assignment(title)
        with self.lock:
            quiz_id = next(self.ids)
            self.quizzes[quiz_id] = assignment_id
            return quiz_id

    def answer_quiz(self, quiz_id: int, user_id: int, answers: dict[int, str]) -> None:
        """Record a new attempt of ``user_id`` at the quiz: question id -> answer text."""
        with self.lock:
            history = self.answers.setdefault(self.quizzes[quiz_id], {}).setdefault(user_id, [])
            data = [
                {"question_id": q, "text": text, "correct": "undefined", "points": 0}
                for q, text in answers.items()
            ]
            history.append({"attempt": len(history) + 1, "submission_data": data})

    def add_column(self, title: str, entries: dict[int, str]) -> int:
        with self.lock:
            column_id = next(self.ids)
            self.columns[column_id] = (title, dict(entries))
            return column_id

    def group_members(self, category: str) -> dict[str, set[int]]:
        """Return each group of the named category by name, with its members' user ids."""
        ids = {i for i, name in self.categories.items() if name == category}
        return {g.name: set(g.members) for g in self.groups.values() if g.category_id in ids}

    def throttle_at(self, request_number: int) -> None:
        """Answer the ``request_number``-th request from now (from 1) with Canvas's throttle."""
        with self.lock:
            self._throttle_at = self.reads + self.writes + request_number

    def fail_next(self, count: int, status: int = 502) -> None:
        with self.lock:
            self._failures = [status] * count

    def fail_write(self, path_end: str, nth: int = 1, status: int = 502) -> None:
        """Answer the ``nth`` write from now to a path ending in ``path_end`` with ``status``."""
        with self.lock:
            self._write_fault = [path_end, nth - 1, status]

    def reset_counts(self) -> None:
        with self.lock:
            self.reads = self.writes = 0
            self.requests = []

    # Payloads, shaped as Canvas's

    def _user(self, user_id: int) -> dict[str, Any]:
        return dict(self.users[user_id])

    def _course(self) -> dict[str, Any]:
        return {
            "id": self.course_id,
            "name": "Introduction to Computing",
            "course_code": "CS 101",
            "workflow_state": "available",
        }

    def _enrollment(self, e: Enrollment) -> dict[str, Any]:
        return {
            "id": e.id,
            "course_id": self.course_id,
            "course_section_id": e.section_id,
            "enrollment_state": e.state,
            "type": e.type,
            "role": e.type,
            "user_id": e.user_id,
            "html_url": f"{self.url}/courses/{self.course_id}/users/{e.user_id}",
            "user": self._user(e.user_id),
        }

    def _progress(self, p: Progress) -> dict[str, Any]:
        return {
            "id": p.id,
            "context_id": self.course_id,
            "context_type": "Course",
            "tag": "submissions_update",
            "completion": {"queued": 0, "running": 50}.get(p.state, 100),
            "workflow_state": p.state,
            "message": p.message,
            "url": f"{self.url}{API}/progress/{p.id}",
        }

    def _category(self, category_id: int) -> dict[str, Any]:
        return {
            "id": category_id,
            "name": self.categories[category_id],
            "role": None,
            "self_signup": None,
            "context_type": "Course",
            "course_id": self.course_id,
            "groups_count": sum(1 for g in self.groups.values() if g.category_id == category_id),
        }

    def _group(self, group: Group) -> dict[str, Any]:
        return {
            "id": group.id,
            "name": group.name,
            "group_category_id": group.category_id,
            "members_count": len(group.members),
            "context_type": "Course",
            "course_id": self.course_id,
        }

    # Lookups

    def _check_course(self, course_id: str) -> None:
        if int(course_id) != self.course_id:
            raise not_found()

    def _students(self) -> set[int]:
        return {e.user_id for e in self.enrollments if e.state in ("active", "invited")}

    # Routes: (method, pattern) -> handler(*groups, query=pairs, body=pairs) -> (status, payload)

    def _routes(self) -> list[tuple[str, str, Callable[..., tuple[int, Any]]]]:
        c = r"/courses/(\d+)"
        return [
            ("GET", c, self.get_course),
            ("GET", c + "/sections", self.list_sections),
            ("GET", c + "/enrollments", self.list_enrollments),
            ("GET", c + r"/quizzes/(\d+)", self.get_quiz),
            ("GET", c + r"/assignments/(\d+)", self.get_assignment),
            ("GET", c + r"/assignments/(\d+)/submissions", self.list_submissions),
            ("POST", c + r"/assignments/(\d+)/submissions/update_grades", self.update_grades),
            ("GET", r"/progress/(\d+)", self.get_progress),
            ("GET", c + "/custom_gradebook_columns", self.list_columns),
            ("GET", c + r"/custom_gradebook_columns/(\d+)/data", self.column_data),
            ("GET", c + "/group_categories", self.list_categories),
            ("POST", c + "/group_categories", self.create_category),
            ("GET", r"/group_categories/(\d+)/groups", self.list_groups),
            ("POST", r"/group_categories/(\d+)/groups", self.create_group),
            ("POST", r"/groups/(\d+)/memberships", self.create_membership),
            ("DELETE", r"/groups/(\d+)/users/(\d+)", self.leave_group),
            ("POST", "/conversations", self.create_conversation),
        ]

    def get_course(self, course_id: str, **_: Any) -> tuple[int, Any]:
        self._check_course(course_id)
        return 200, self._course()

    def list_sections(self, course_id: str, **_: Any) -> tuple[int, Any]:
        self._check_course(course_id)
        return 200, [
            {"id": i, "name": name, "course_id": self.course_id, "sis_section_id": None}
            for i, name in self.sections.items()
        ]

    def list_enrollments(
        self, course_id: str, query: list[tuple[str, str]], **_: Any
    ) -> tuple[int, Any]:
        self._check_course(course_id)
        types = [v for k, v in query if k == "type[]"]
        states = [v for k, v in query if k == "state[]"] or ["active", "invited"]
        chosen = [
            e for e in self.enrollments if (not types or e.type in types) and e.state in states
        ]
        chosen.sort(key=lambda e: (e.type, self.users[e.user_id]["sortable_name"], e.id))
        return 200, [self._enrollment(e) for e in chosen]

    def get_quiz(self, course_id: str, quiz_id: str, **_: Any) -> tuple[int, Any]:
        self._check_course(course_id)
        if int(quiz_id) not in self.quizzes:
            raise not_found()
        assignment_id = self.quizzes[int(quiz_id)]
        return 200, {
            "id": int(quiz_id),
            "title": self.assignments[assignment_id],
            "quiz_type": "survey",
            "assignment_id": assignment_id,
            "published": True,
        }

    def get_assignment(self, course_id: str, assignment_id: str, **_: Any) -> tuple[int, Any]:
        self._check_course(course_id)
        if int(assignment_id) not in self.assignments:
            raise not_found()
        return 200, {
            "id": int(assignment_id),
            "name": self.assignments[int(assignment_id)],
            "course_id": self.course_id,
            "published": True,
            "grading_type": "pass_fail",
        }

    def list_submissions(
        self, course_id: str, assignment_id: str, query: list[tuple[str, str]], **_: Any
    ) -> tuple[int, Any]:
        self._check_course(course_id)
        if int(assignment_id) not in self.assignments:
            raise not_found()
        history = ("include[]", "submission_history") in query
        payload = []
        for user_id, attempts in sorted(self.answers.get(int(assignment_id), {}).items()):
            item = {
                "id": next(self.ids),
                "assignment_id": int(assignment_id),
                "user_id": user_id,
                "attempt": len(attempts),
                "workflow_state": "submitted",
            }
            if history:  # newest first, as Canvas lists them
                item["submission_history"] = list(reversed(attempts))
            payload.append(item)
        return 200, payload

    def update_grades(
        self, course_id: str, assignment_id: str, body: list[tuple[str, str]], **_: Any
    ) -> tuple[int, Any]:
        self._check_course(course_id)
        if int(assignment_id) not in self.assignments:
            raise not_found()
        grades = {}
        for key, value in body:
            match = re.fullmatch(r"grade_data\[(\d+)\]\[posted_grade\]", key)
            if match:
                grades[int(match.group(1))] = value
        if not grades:
            return 400, "'grade_data' parameter required"
        progress = Progress(next(self.ids), int(assignment_id), grades)
        self.progress[progress.id] = progress
        return 200, self._progress(progress)

    def get_progress(self, progress_id: str, **_: Any) -> tuple[int, Any]:
        progress = self.progress.get(int(progress_id))
        if progress is None:
            raise not_found()
        if progress.state == "queued":
            progress.state = "running"
        elif progress.state == "running":
            strangers = sorted(set(progress.grades) - self._students())
            if strangers:
                progress.state = "failed"
                progress.message = (
                    f"Couldn't find User(s) with API ids {', '.join(map(str, strangers))}"
                )
            else:
                progress.state = "completed"
                self.grades.setdefault(progress.assignment_id, {}).update(progress.grades)
        return 200, self._progress(progress)

    def list_columns(self, course_id: str, **_: Any) -> tuple[int, Any]:
        self._check_course(course_id)
        return 200, [
            {"id": i, "title": title, "position": n, "hidden": False, "read_only": False}
            for n, (i, (title, _entries)) in enumerate(self.columns.items(), start=1)
        ]

    def column_data(self, course_id: str, column_id: str, **_: Any) -> tuple[int, Any]:
        self._check_course(course_id)
        if int(column_id) not in self.columns:
            raise not_found()
        entries = self.columns[int(column_id)][1]
        return 200, [{"user_id": u, "content": text} for u, text in sorted(entries.items())]

    def list_categories(self, course_id: str, **_: Any) -> tuple[int, Any]:
        self._check_course(course_id)
        return 200, [self._category(i) for i in self.categories]

    def create_category(
        self, course_id: str, body: list[tuple[str, str]], **_: Any
    ) -> tuple[int, Any]:
        self._check_course(course_id)
        name = dict(body).get("name", "")
        if not name:
            raise Answer(400, "name is required")
        category_id = next(self.ids)
        self.categories[category_id] = name
        return 200, self._category(category_id)

    def list_groups(self, category_id: str, **_: Any) -> tuple[int, Any]:
        if int(category_id) not in self.categories:
            raise not_found()
        return 200, [
            self._group(g) for g in self.groups.values() if g.category_id == int(category_id)
        ]

    def create_group(
        self, category_id: str, body: list[tuple[str, str]], **_: Any
    ) -> tuple[int, Any]:
        if int(category_id) not in self.categories:
            raise not_found()
        group = Group(next(self.ids), dict(body).get("name", ""), int(category_id))
        self.groups[group.id] = group
        return 200, self._group(group)

    def create_membership(
        self, group_id: str, body: list[tuple[str, str]], **_: Any
    ) -> tuple[int, Any]:
        group = self.groups.get(int(group_id))
        if group is None:
            raise not_found()
        user_id = int(dict(body).get("user_id", 0))
        if user_id not in self._students():
            raise not_found()
        for peer in self.groups.values():  # one group per category, as Canvas keeps it
            if peer.category_id == group.category_id:
                peer.members.discard(user_id)
        group.members.add(user_id)
        return 200, {
            "id": next(self.ids),
            "group_id": group.id,
            "user_id": user_id,
            "workflow_state": "accepted",
            "moderator": False,
        }

    def leave_group(self, group_id: str, user_id: str, **_: Any) -> tuple[int, Any]:
        group = self.groups.get(int(group_id))
        if group is None or int(user_id) not in group.members:
            raise not_found()
        group.members.discard(int(user_id))
        return 200, {"ok": True}

    def create_conversation(self, body: list[tuple[str, str]], **_: Any) -> tuple[int, Any]:
        fields = dict(body)
        recipients = [int(v) for k, v in body if k == "recipients[]" and v.isdigit()]
        known = [r for r in recipients if r in self.users]
        # Canvas's render_error: a list of {attribute, message}, 400.
        if not recipients:
            return 400, [{"attribute": "recipients", "message": "blank"}]
        if not known:
            return 400, [{"attribute": "recipients", "message": "invalid"}]
        if not fields.get("body"):
            return 400, [{"attribute": "body", "message": "blank"}]
        bulk = fields.get("group_conversation") == "true" and fields.get("bulk_message") == "true"
        if not bulk and len(known) > MAX_GROUP_CONVERSATION:
            return 400, [{"attribute": "recipients", "message": "too many for group conversation"}]
        recipients = known
        made = []
        for user_id in recipients:  # group_conversation false: a private conversation each
            conversation = {
                "id": next(self.ids),
                "subject": fields.get("subject", ""),
                "workflow_state": "read",
                "last_message": fields["body"],
                "audience": [user_id],
                "context_code": fields.get("context_code"),
            }
            self.conversations.append(conversation)
            made.append(conversation)
        return 201, made

    # HTTP

    def handle(
        self, method: str, target: str, headers: Any, raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        query = parse_qsl(parts.query, keep_blank_values=True)
        with self.lock:
            if method == "GET":
                self.reads += 1
            else:
                self.writes += 1
            number = self.reads + self.writes
            failure = self._failures.pop(0) if self._failures else None
            fault = self._write_fault
            if fault and method != "GET" and parts.path.endswith(fault[0]):
                if fault[1] == 0:
                    failure, self._write_fault = fault[2], []
                else:
                    fault[1] -= 1
            throttled = number == self._throttle_at
        extra = {"X-Request-Cost": "0.25", "X-Rate-Limit-Remaining": f"{self.remaining:g}"}
        payload: Any
        try:
            if headers.get("Authorization", "") != f"Bearer {self.token}":
                extra["WWW-Authenticate"] = 'Bearer realm="canvas-lms"'
                raise Answer(401, "Invalid access token.")
            if failure is not None:
                raise Answer(failure, "An error occurred.")
            if throttled:
                extra["X-Rate-Limit-Remaining"] = "-12.5"
                extra["Content-Type"] = "text/plain; charset=utf-8"
                with self.lock:
                    self.requests.append((method, parts.path, 403))
                return 403, extra, THROTTLED.encode()
            if not parts.path.startswith(API):
                raise not_found()
            body = parse_qsl(raw.decode(), keep_blank_values=True) if raw else []
            status, payload = self._route(method, parts.path.removeprefix(API), query, body)
        except Answer as answer:
            status, payload = answer.status, answer.body
        with self.lock:
            self.requests.append((method, parts.path, status))
        if isinstance(payload, list) and method == "GET":
            payload, extra["Link"] = self._page(payload, parts.path, query)
        return status, extra, json.dumps(payload).encode()

    def _route(
        self, method: str, path: str, query: list[tuple[str, str]], body: list[tuple[str, str]]
    ) -> tuple[int, Any]:
        for verb, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                with self.lock:
                    return handler(*match.groups(), query=query, body=body)
        raise not_found()

    def _page(
        self, items: list[Any], path: str, query: list[tuple[str, str]]
    ) -> tuple[list[Any], str]:
        given = dict(query)
        per_page = max(1, min(int(given.get("per_page", 10)), 100))
        page = max(int(given.get("page", 1)), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        others = [(k, v) for k, v in query if k not in ("page", "per_page")]

        def link(number: int, rel: str) -> str:
            params = urlencode([*others, ("page", number), ("per_page", per_page)])
            return f'<{self.url}{path}?{params}>; rel="{rel}"'

        links = [link(page, "current")]
        if page < last:
            links.append(link(page + 1, "next"))
        if page > 1:
            links.append(link(page - 1, "prev"))
        links += [link(1, "first"), link(last, "last")]
        return items[(page - 1) * per_page : page * per_page], ",".join(links)

    def page_requests(self, path: str) -> int:
        """Return how many requests were made for ``path`` (under /api/v1), pages included."""
        return sum(1 for _m, p, _s in self.requests if p == API + path)
