"""The one error type services raise; views and serializers turn it into messages."""

from __future__ import annotations


class ApplicationError(Exception):
    """A business rule refused the request; `message` says what to do instead.

    `errors` maps a field (or a file name) to its messages, for forms that show them in
    place.
    """

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
