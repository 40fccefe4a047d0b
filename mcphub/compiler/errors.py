"""Compiler exceptions: each message is meant for the user (what went wrong, where, how to fix it)."""

from __future__ import annotations

__all__ = ["CompileError", "SourceError", "SourceUnavailable", "SpecError"]


class CompileError(Exception):
    """Base of every error the compiler reports to a user; the message is shown as is, on one line."""


class SourceError(CompileError):
    """An API description (OpenAPI, Postman, GraphQL, ...) cannot be read or understood."""


class SpecError(CompileError):
    """The hub spec file (YAML) is invalid."""


class SourceUnavailable(SpecError):
    """The spec is fine but its source can't be had here (file missing, npm unreachable).

    `mcphub compile` then keeps an already-committed package instead of failing, so a machine without
    the source (or without npm) can still serve; `--check` still reports it as an error.
    """

    def __init__(self, message: str, *, slug: str | None = None) -> None:
        super().__init__(message)
        self.slug = slug
