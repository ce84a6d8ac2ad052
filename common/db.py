"""Work that must survive a restarted database or broker: `db_retry` repeats a call after a
transient database error; `send_each` enqueues tasks and leaves what a broker outage loses
to the periodic sweeps (the database holds what is left to do)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Errors a task may retry: the database or the network went away for a moment.
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


# Every database touch of a worker goes through `db_retry`: a restart of PostgreSQL or a
# dropped connection costs a few seconds, not the photo. ~8 s in all.
DB_RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 4.0)


def connection_drop() -> None:
    """Close this thread's connection (after an error), so the next query opens a new one."""
    with contextlib.suppress(DatabaseError):
        connection.close()


def db_retry(func: Callable[..., T], /, **kwargs: Any) -> T:
    """Call `func(**kwargs)`; after a transient database error (OperationalError,
    InterfaceError) close the connection and call it again, up to len(DB_RETRY_DELAYS_S)
    times with a short backoff, then raise the error.

    Only for work that is safe to repeat: reads, conditional updates, a transaction. Inside
    an open transaction nothing is retried: the transaction is lost, its owner decides.
    """
    for delay in (*DB_RETRY_DELAYS_S, None):
        try:
            return func(**kwargs)
        except (OperationalError, InterfaceError) as exc:
            if delay is None or connection.in_atomic_block:
                raise
            name = getattr(func, "__name__", repr(func))
            logger.warning("database error in %s (%s); trying again in %s s", name, exc, delay)
            connection_drop()
            time.sleep(delay)
    raise AssertionError("unreachable")


def send_each(task: Any, ids: Sequence[int], what: str) -> None:
    """`task.delay(id)` for each id. The database holds what is left to do, so a broker
    that cannot be reached is logged and left to the sweeps (runs, cases, webhooks), not
    raised into the work that just finished."""
    from kombu.exceptions import OperationalError as BrokerError

    for pk in ids:
        try:
            task.delay(pk)
        except BrokerError:
            logger.warning("broker unreachable; %s %s waits for the sweep", what, pk)
