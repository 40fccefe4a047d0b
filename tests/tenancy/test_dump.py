"""A dump of the database (SQLite file, pg_dump) holds no credential, key or password in clear."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.tenancy.usage import CallRecord
from mcphub.runtime.tenancy.vault import KEY_FILENAME, hub_secret


def _dump(db_url: str, pg_dsn: str | None) -> bytes:
    if pg_dsn is None:
        path = Path(make_url(db_url).database or "")
        return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))  # db, -wal, -shm
    return subprocess.run(["pg_dump", "--no-owner", pg_dsn], check=True, capture_output=True, timeout=60).stdout


async def test_no_secret_in_clear_in_a_database_dump(tenancy: Tenancy, db_url: str, pg_dsn: str | None) -> None:
    password = "correct horse battery staple"
    ada = await tenancy.accounts.create_user("ada@example.com", password)
    bob = await tenancy.accounts.create_user("bob@example.com", "bobs own long password")
    key = await tenancy.accounts.create_key(ada.id, "laptop")
    rotated_from = await tenancy.accounts.create_key(bob.id, "agent")
    rotated = await tenancy.accounts.rotate_key(bob.id, rotated_from.info.id)
    secrets = {
        "ada token": "ghp_AdaUpstreamToken0123456789abcdef",
        "bob password": "bob-upstream-password-Zx9",
        "bob api key": "sk_live_bobApiKeyValue987654321",
    }
    await tenancy.credentials.set(ada.id, "github", {"token": secrets["ada token"]})
    await tenancy.credentials.set(bob.id, "jira", {"username": "bob", "password": secrets["bob password"]})
    await tenancy.credentials.set(bob.id, "stripe", {"api_key": secrets["bob api key"]})
    tenancy.usage.record(
        CallRecord(
            ada.id,
            key.info.id,
            "github",
            "search",
            "ok",
            5.0,
            arguments={"q": secrets["ada token"]},
            result=secrets["ada token"],
        )
    )
    await tenancy.usage.flush()

    dump = _dump(db_url, pg_dsn)
    assert b"ada@example.com" in dump  # the dump is real and readable
    master = (tenancy.data_dir / KEY_FILENAME).read_text()
    raw_secrets = [*tenancy.vault.keyring.keys.values(), await hub_secret(tenancy.db, tenancy.vault, "api-key-hmac")]
    forbidden = {
        **secrets,
        "ada password": password,
        "ada key": key.secret,
        "bob old key": rotated_from.secret,
        "bob new key": rotated.secret,
        "ada key body": key.secret.removeprefix("mcp_sk_"),
        "key file": master,
    }
    for what, value in forbidden.items():
        for form in (value.encode(), value.encode().hex().encode(), base64.b64encode(value.encode())):
            assert form not in dump, f"{what} appears in clear in the dump"
    assert len(raw_secrets) == 2
    for raw in raw_secrets:
        assert raw not in dump and raw.hex().encode() not in dump, "a master key or the key pepper is in the dump"
