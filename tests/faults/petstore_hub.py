"""What a fault test's `mcphub serve` runs on: the petstore package, a SQLite database, one user with a key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.support import Account, make_account, open_tenancy, petstore, write_package


@dataclass(frozen=True)
class PetstoreHub:
    catalog: Path
    data_dir: Path
    db_url: str
    ada: Account


async def petstore_hub(folder: Path, upstream_url: str, **account: Any) -> PetstoreHub:
    """The catalog, data dir and database under `folder`; `account` as `make_account` takes it (`enable`, …)."""
    catalog = folder / "catalog"
    write_package(petstore(upstream_url), catalog)
    data_dir = folder / "data"
    db_url = f"sqlite+aiosqlite:///{folder / 'hub.db'}"
    tenancy = await open_tenancy(data_dir, db_url)
    try:
        ada = await make_account(tenancy, "ada@example.com", **account)
    finally:
        await tenancy.aclose()
    return PetstoreHub(catalog, data_dir, db_url, ada)
