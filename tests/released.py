"""Run a management command the moment a line arrives on stdin, all set up beforehand.

``python -m tests.released runflow <flow>`` sets Django up, connects to the
database, prints ``ready`` and waits. A test starts several such processes,
waits until each is ready, then releases them together by writing a line to
each (:meth:`tests.processes.Processes.release`): they race from one instant
rather than from whenever each finished starting up.
"""

import sys

import django
from django.core.management import execute_from_command_line
from django.db import connection

READY = "ready"


def main() -> None:
    django.setup()
    connection.ensure_connection()
    print(READY, flush=True)
    sys.stdin.readline()
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
