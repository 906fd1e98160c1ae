"""Command processes of the command tests: a migrated site of its own, a runflow to Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def django_process(*args: str) -> list[str]:
    return [sys.executable, "-m", "django", *args, "--settings=tests.settings"]


def site_with(tmp_path, code: str) -> dict[str, str]:
    """Migrate a SQLite file, run ``code`` in its shell; return the environment that uses it."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PYTHONUNBUFFERED"] = "1"
    for args in (["migrate", "-v0"], ["shell", "-v0", "-c", code]):
        done = subprocess.run(
            django_process(*args),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    return env


def interrupted_at_wait(env: dict[str, str], *args: str) -> tuple[str, str, int]:
    """Run ``runflow *args`` until the stdin flow's step waits, Ctrl-C it, then let the step end.

    Return what it printed and its exit code.
    """
    process = subprocess.Popen(
        django_process("runflow", *args),
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = []
        while "[STEP] wait (record): started\n" not in seen:
            line = process.stdout.readline()
            assert line, f"runflow ended early: {''.join(seen)}{process.stderr.read()}"
            seen.append(line)
        process.send_signal(signal.SIGINT)
        # The waiting step finishes only now: the signal is in before it returns.
        out, err = process.communicate("go\n", timeout=60)
    finally:
        process.kill()
    return "".join(seen) + out, err, process.returncode
