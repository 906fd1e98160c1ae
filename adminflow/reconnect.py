"""Database writes that outlive a lost connection: a restart, a failover, an ended backend.

Django drops a connection the server closed only around a request. A run
lasts longer than a request and writes from threads of its own, each
holding a connection that may have been closed since its last use: the
first statement on it fails, and every one after it. A run must still end
in a final state, with its steps, so what records it finds out whether the
connection was lost and then carries on over a new one.

Never inside a transaction: what it wrote went with the old connection, and
carrying on over a new one would commit half of it. There the error stands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper

T = TypeVar("T")


def drop_if_lost(using: str) -> None:
    """Close this thread's connection to database ``using`` if the server closed it,
    so that the next statement opens a new one; outside a transaction only."""
    connection = connections[using]
    if (
        connection.connection is not None
        and not connection.in_atomic_block
        and not connection.is_usable()
    ):
        connection.close()


def retried_if_lost(write: Callable[[], T], model: type[models.Model]) -> T:
    """Return ``write()``, which writes rows of ``model``; if it failed because this
    thread's connection was lost, call it once more over a new one.

    ``write`` must be safe to call twice, as a conditional UPDATE is. Raise
    what it raised if the connection it used is fine (a lock timeout, say),
    or if it ran inside a transaction.
    """
    connection = connections[router.db_for_write(model)]
    used = connection.connection
    try:
        return write()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block or not _lost(connection, used):
            raise
        connection.close()
    return write()


def _lost(connection: BaseDatabaseWrapper, used: Any) -> bool:
    """Return whether the database connection ``used`` by a write that failed was lost.

    A ``write`` that opens its own transaction hides the loss: when the
    rollback fails on the dead connection, Django drops it and opens a new
    one on leaving the block. That one works, but the write did not go
    through it. (A write that opened the thread's first connection counts
    as lost too: one more call of it is harmless.)
    """
    return connection.connection is not used or not connection.is_usable()
