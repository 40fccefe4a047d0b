"""Compiler errors: each message is for the user and says what is wrong, where, and how to fix it."""

from __future__ import annotations


class CompileError(Exception):
    """Base of every error the compiler reports to a user (no traceback is shown for these)."""


class SourceError(CompileError):
    """The API description (OpenAPI, GraphQL, ...) cannot be read or understood."""


class SpecError(CompileError):
    """The hub spec YAML is invalid; the message names file, line and field."""
