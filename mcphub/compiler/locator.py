"""Where a field of a spec file is: the locator that every stage after loading cites errors with.

`load_spec` records the line of every field while it reads the YAML and hands the result over as a `Locator`;
curation and the source kinds then raise `locator.error("tools[3].name", "...")` and the user reads
`specs/github.yaml:41: tools[3].name ...`. The locator knows nothing of the spec's meaning, so the stages that
find problems late (curation needs the parsed source) don't have to reach back into the spec model for messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mcphub.compiler.errors import SpecError

__all__ = ["Locator", "format_error"]


@dataclass(frozen=True, slots=True)
class Locator:
    """The line of each field ('tools[3].defaults.per_page' → 22) in the spec file at `path`."""

    path: Path | None
    lines: Mapping[str, int] = field(default_factory=dict)

    def line_of(self, field: str) -> int | None:
        """The line of `field`, or of its nearest parent the file has ('' is the whole file)."""
        while field:
            if field in self.lines:
                return self.lines[field]
            field = _parent(field)
        return self.lines.get("")

    def where(self, field: str) -> str:
        """'file:line' of `field` ('file' alone when the line is unknown)."""
        line = self.line_of(field)
        where = str(self.path) if self.path is not None else "<spec>"
        return f"{where}:{line}" if line is not None else where

    def error(self, field: str, message: str) -> SpecError:
        """A SpecError 'file:line: field message'."""
        return SpecError(format_error(self.path, self.line_of(field), field, message))


def _parent(field: str) -> str:
    cut = max(field.rfind("."), field.rfind("["))
    return field[:cut] if cut > 0 else ""


def format_error(path: Path | str | None, line: int | None, field: str, message: str) -> str:
    """'file:line: field message' on one line."""
    where = str(path) if path is not None else "<spec>"
    if line is not None:
        where += f":{line}"
    text = f"{where}: {field} {message}" if field else f"{where}: {message}"
    # Values quoted from the file may hold line breaks or control characters: keep one problem on one line.
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
