"""tests.skip_policy: CI fails on a skip whose reason is not on the allowed list."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.skip_policy import ENVIRONMENT, unexpected

ROOT = Path(__file__).resolve().parent.parent

SKIPS = """
import pytest

def test_on_sqlite():
    pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")

def test_passes():
    pass
"""


def test_allowed_reasons_pass_and_others_are_listed_once() -> None:
    reasons = [
        "tests/faults/test_kill.py::test_a: Skipped: needs PostgreSQL: set DATABASE_URL=...",
        "tests/test_compat.py::test_b: Skipped: Django 6 has the Tasks framework built in",
        "tests/queues/test_celery.py::test_c: Skipped: needs Django 6 on Python 3.12+ (...)",
        "tests/browser/test_d.py::test_d: Skipped: chromium not installed at /usr/bin/chromium",
        "tests/browser/test_d.py::test_d: Skipped: chromium not installed at /usr/bin/chromium",
    ]
    assert unexpected(reasons) == [reasons[3]]


def pytest_session(tmp_path: Path, body: str, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_skips.py").write_text(body)
    return subprocess.run(
        [
            *[sys.executable, "-m", "pytest", "-p", "tests.skip_policy", *options, "-q", "-rs"],
            *["-p", "no:django", "-p", "no:randomly", "-c", "/dev/null", str(tmp_path)],
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != ENVIRONMENT},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_session_fails_on_a_skip_not_allowed_and_names_it(tmp_path: Path) -> None:
    body = SKIPS + '\ndef test_browser():\n    import pytest\n    pytest.skip("no browser")\n'
    strict = pytest_session(tmp_path, body, "--allowed-skips-only")
    assert strict.returncode == 1, strict.stdout
    assert "skips not on the allowed list" in strict.stdout
    assert "test_skips.py::test_browser: Skipped: no browser" in strict.stdout
    assert "test_on_sqlite: Skipped" not in strict.stdout.split("allowed list")[1]
    assert pytest_session(tmp_path, body).returncode == 0  # off unless asked for


def test_session_passes_with_allowed_skips_only(tmp_path: Path) -> None:
    passed = pytest_session(tmp_path, SKIPS, "--allowed-skips-only")
    assert passed.returncode == 0, passed.stdout
    assert "1 passed, 1 skipped" in passed.stdout
