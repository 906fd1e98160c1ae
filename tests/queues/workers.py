"""Worker processes of one test: started in sessions of their own, always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_SECONDS = 60
STOP_SECONDS = 10


class Workers:
    """Worker processes started by one test, their output in one file."""

    def __init__(self, output: Path, env: dict[str, str]) -> None:
        self.output = output
        self.env = env
        self.processes: list[subprocess.Popen] = []

    def start(self, command: list[str]) -> subprocess.Popen:
        """Start ``command`` in a session of its own, which its children (RQ's work
        horses, Celery's pool) share, so that they can be found and killed with it."""
        with self.output.open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """Ask every worker to stop after its current task; kill, with its children,
        any that has not stopped within STOP_SECONDS."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_session(process.pid)
                process.wait()
        self.processes.clear()

    def check_alive(self) -> None:
        """Raise AssertionError, with their output, if a worker has exited."""
        for process in self.processes:
            if process.poll() is not None:
                raise AssertionError(
                    f"worker {process.args} exited with {process.returncode}:\n{self.log()}"
                )

    def log(self) -> str:
        """Return what the workers printed so far."""
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Return once ``condition()`` holds; raise AssertionError if a worker died or
        READY_SECONDS passed."""
        deadline = time.monotonic() + READY_SECONDS
        while not condition():
            self.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}:\n{self.log()}")
            time.sleep(0.05)


def kill_session(leader: int) -> None:
    """Kill every process of the session that process ``leader`` leads.

    A work horse in a process group of its own is still in its worker's
    session, so none outlives the test.
    """
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getsid(int(entry.name)) == leader:
                    os.kill(int(entry.name), signal.SIGKILL)
