"""Forms that create things are sent once: each carries a key made when it was rendered
(`submission_key_new`, the `{% submission_key %}` tag), and `submit_once` makes the thing
only for a key not seen before. Sent again with the same key (Back then Send, a reload of
the answer, a double click), the form answers with what the first sending made.

The key's row is inserted in the same transaction as the thing it makes, under a unique
constraint on (user, key): of two sendings at the same moment, the second waits for the
first to commit and then fails to insert, and reads the first's result. A key seen before
is looked up first only to skip the work (decoding photos) in the common case."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.contrib.auth.models import User
from django.db import IntegrityError, models, transaction

from claims.models import FormSubmission
from common.errors import ApplicationError

M = TypeVar("M", bound=models.Model)

KEY = re.compile(r"[0-9a-f]{32}")


def submission_key_new() -> str:
    return uuid.uuid4().hex


def submission_key_clean(value: object) -> str:
    """The key a form sent ("" when it sent none or a malformed one: no protection then,
    as for a client that posts without rendering the form)."""
    return value if isinstance(value, str) and KEY.fullmatch(value) else ""


@dataclass(frozen=True)
class Submitted(Generic[M]):
    """What a form's sending made; `again` when the key had been sent before, `value` then
    being what the first sending made."""

    value: M
    again: bool


def _earlier(*, user: User, key: str, model: type[M]) -> M | None:
    row = FormSubmission.objects.filter(user=user, key=key).first()
    if row is None:
        return None
    if row.kind != model._meta.label_lower or row.object_id is None:
        raise ApplicationError("This form was sent already; reload the page and fill it in again.")
    found = model._default_manager.filter(pk=row.object_id).first()
    if found is None:
        raise ApplicationError(
            "What this form made the first time is gone; reload the page to send it again."
        )
    return found


def submit_once(*, user: User, key: str, model: type[M], create: Callable[[], M]) -> Submitted[M]:
    """`create()` unless `user` sent `key` before; then the `model` row it made."""
    if not key:
        return Submitted(create(), again=False)
    earlier = _earlier(user=user, key=key, model=model)
    if earlier is not None:
        return Submitted(earlier, again=True)
    try:
        with transaction.atomic():
            row = FormSubmission.objects.create(user=user, key=key, kind=model._meta.label_lower)
            made = create()
            FormSubmission.objects.filter(pk=row.pk).update(object_id=made.pk)
    except IntegrityError:
        # Sent twice at the same moment: the other sending committed first.
        earlier = _earlier(user=user, key=key, model=model)
        if earlier is None:
            raise  # not the key's constraint: an error of `create` itself
        return Submitted(earlier, again=True)
    return Submitted(made, again=False)
