"""The start-up shortcut for a database already at head agrees with alembic itself."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from mcphub.runtime.store.migrations import alembic_config, current_revision, head_revision, upgrade


def test_head_revision_is_alembics_head() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_upgrade_migrates_a_new_database_and_then_finds_it_at_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    assert await current_revision(url) is None
    await upgrade(url)
    assert await current_revision(url) == head_revision()
    await upgrade(url)  # at head: recognised without running alembic, and nothing changes
    assert await current_revision(url) == head_revision()
