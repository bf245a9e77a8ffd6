"""Rejected requests: an HTTP status and one line naming the field or the id."""

from __future__ import annotations

from typing import Any


class RequestError(Exception):
    """A request the service refuses; the state is left exactly as it was.

    Args:
        status: the HTTP status (400 malformed, 401 no token, 404 unknown resource, 409 conflicts
            with the state, such as duplicate ids or times older than the clock, 413 too large, 422
            a well-formed request that is invalid, such as a schema violation or an unknown id).
        code: a short machine-readable name of the problem.
        message: one line naming the field or the id.
        where: the field or id, also given separately for programs.
    """

    def __init__(self, status: int, code: str, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.where = status, code, message, where

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.where is not None:
            out["where"] = self.where
        return out
