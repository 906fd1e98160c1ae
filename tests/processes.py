"""Processes a test starts on its own database: a ``db_worker``, ``runflow``, any command.

Each process runs in a session of its own, writes what it prints to a file
of its own, and is stopped when the test ends, killed (with any children)
if it does not stop in time, so that none outlives its test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.released import READY
from tests.run_helpers import database_url

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 30
"""How long :meth:`Processes.wait_until` waits before giving up."""
POLL_SECONDS = 0.02


def django_command(*args: str) -> list[str]:
    """Return the command line of ``python -m django`` with ``args``."""
    return [sys.executable, "-m", "django", *args]


def db_worker_command() -> list[str]:
    """Return the command line of a ``db_worker`` that executes the database backend's tasks."""
    return django_command(
        "db_worker",
        *("--backend", "database", "--interval", "0.1"),
        *("--no-startup-delay", "--no-reload"),
    )


def released_command(*args: str) -> list[str]:
    """Return the command line of management command ``args`` that waits to be released
    (see :mod:`tests.released` and :meth:`Processes.release`)."""
    return [sys.executable, "-m", "tests.released", *args]


def process_env(settings_module: str) -> dict[str, str]:
    """Return the environment of a process on this test's database with ``settings_module``."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": settings_module,
        "PYTHONUNBUFFERED": "1",
    }
    # A process of its own runs no event loop: keep Django's guard against async-unsafe calls.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


@contextmanager
def processes_for_test(
    directory: Path, settings_module: str, *, grace_seconds: float = 0.0
) -> Iterator[Processes]:
    """Yield a test's processes (none yet), on its database with ``settings_module``;
    afterwards stop those still running (see :meth:`Processes.stop`) and print what they
    said, which pytest shows if the test failed."""
    started = Processes(directory, process_env(settings_module))
    try:
        yield started
    finally:
        started.stop(grace_seconds)
        print(started.log())


class Processes:
    """The processes one test starts, each printing to ``<directory>/<name>.log``."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.env = env
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, command: Sequence[str], *, stdin: int | None = subprocess.DEVNULL
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` as ``name``, in a session of its own that its children share."""
        if name in self.started:
            raise ValueError(f"a process named '{name}' was already started by this test")
        with self.output_path(name).open("ab") as output:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdin=stdin,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started[name] = process
        return process

    def output_path(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def output(self, name: str) -> str:
        """Return what process ``name`` printed so far."""
        path = self.output_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def log(self) -> str:
        """Return what every process printed, each under its name."""
        return "".join(f"--- {name}:\n{self.output(name)}" for name in self.started)

    def wait_until(
        self,
        condition: Callable[[], object],
        what: str,
        *,
        alive: Iterable[str] = (),
        seconds: float = WAIT_SECONDS,
    ) -> None:
        """Return once ``condition()`` is true; raise AssertionError, with every process's
        output, if one of the processes named in ``alive`` exits first or time runs out."""
        watched = [self.started[name] for name in alive]
        deadline = time.monotonic() + seconds
        while not condition():
            for process in watched:
                if process.poll() is not None:
                    raise AssertionError(
                        f"{process.args} exited with {process.returncode} before {what}:\n"
                        f"{self.log()}"
                    )
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}:\n{self.log()}")
            time.sleep(POLL_SECONDS)

    def wait(self, name: str, seconds: float = WAIT_SECONDS) -> int:
        """Return the exit code of process ``name`` once it exits; raise AssertionError,
        with every process's output, if it is still running after ``seconds``."""
        try:
            return self.started[name].wait(seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"process '{name}' still runs after {seconds} s:\n{self.log()}"
            ) from None

    def kill(self, name: str) -> int:
        """SIGKILL process ``name`` and wait for it; return its pid, which its run names
        as its worker."""
        process = self.started[name]
        process.send_signal(signal.SIGKILL)
        process.wait()
        return process.pid

    def release(self, names: Sequence[str]) -> None:
        """Wait until every process of ``names`` (started with :func:`released_command` and
        ``stdin=subprocess.PIPE``) is ready, then release them all at once."""
        self.wait_until(
            lambda: all(self.output(name).startswith(READY) for name in names),
            f"{', '.join(names)} to be ready",
            alive=names,
        )
        for name in names:
            stdin = self.started[name].stdin
            assert stdin is not None, f"process '{name}' was started without a pipe to its stdin"
            stdin.write(b"go\n")
            stdin.flush()

    def stop(self, grace_seconds: float = 0.0) -> None:
        """Send SIGTERM to the processes still running and give them ``grace_seconds`` to
        exit (none: kill them at once); kill what is left of their sessions."""
        running = [p for p in self.started.values() if p.poll() is None]
        if grace_seconds > 0:
            for process in running:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
            kill_session(process)
            process.wait()
        for process in self.started.values():
            if process.stdin is not None:
                process.stdin.close()


def kill_session(process: subprocess.Popen[bytes]) -> None:
    """Kill every process left in the session that ``process`` leads."""
    with contextlib.suppress(ProcessLookupError):  # none left
        os.killpg(process.pid, signal.SIGKILL)
