"""Work that must survive a restarted database or broker: `db_retry` repeats a call after a
transient database error; `send_each` enqueues tasks and leaves what a broker outage loses
to the periodic sweeps (the database holds what is left to do)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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


@contextlib.contextmanager
def heartbeat(*, renew: Callable[[], bool], every_s: float, name: str) -> Iterator[None]:
    """Call `renew()` every `every_s` seconds from a thread while the body runs, until it
    returns False (the work was finished, failed or taken over elsewhere).

    A thread rather than beats between the steps of the work: one step (a large photo on a
    busy CPU, a validation pass, packaging) may take longer than the stale limit, and the
    thread beats through it. It dies with the worker process, which is what the sweeps
    detect; a hung body is ended by its task's time limit. A missed beat (the database
    away) is logged and allowed for: a stale limit is several beats long.
    """
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every_s):
                try:
                    if not renew():
                        return
                except DatabaseError as exc:
                    logger.warning("%s: heartbeat missed (%s)", name, exc)
                    connection_drop()
        finally:
            connection_drop()  # the thread's own connection

    thread = threading.Thread(target=beat, name=f"{name}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_s)
