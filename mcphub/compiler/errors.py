"""Compiler exceptions: each message is meant for the user (what went wrong, where, how to fix it).

One root, `CompileError`: the CLI (and anything embedding the compiler) catches that one class. The tree:

    CompileError            every error the compiler reports; shown as is
    ├── SpecError           the hub spec (YAML) is invalid; names file:line and field
    │   └── SourceUnavailable  the spec is fine but its source can't be had here
    ├── SourceError         an API description can't be read or understood
    ├── CodegenError        the IR can't be rendered (a name clash, a formatter failure)
    ├── ScanError           semgrep is missing or could not check every file
    └── llm.LLMError        the builder's model could not be reached or answered unusably (defined with the client)
"""

from __future__ import annotations

__all__ = ["CodegenError", "CompileError", "ScanError", "SourceError", "SourceUnavailable", "SpecError"]


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


class CodegenError(CompileError):
    """The IR cannot be rendered (a name clash, a formatter failure): the message says which tool."""


class ScanError(CompileError):
    """semgrep is missing or could not check every file; nothing it was given counts as scanned."""
