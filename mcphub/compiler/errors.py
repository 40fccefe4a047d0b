"""Compiler exceptions: each message is meant for the user (what went wrong, where, how to fix it)."""

from __future__ import annotations

__all__ = ["CompileError", "SourceError", "SpecError"]


class CompileError(Exception):
    """Base of every error the compiler reports to a user; the message is shown as is, on one line."""


class SourceError(CompileError):
    """An API description (OpenAPI, Postman, GraphQL, ...) cannot be read or understood."""


class SpecError(CompileError):
    """The hub spec file (YAML) is invalid."""
