"""Tenancy command groups for the `mcphub` CLI; each module has `register(main)`.

`register(main)` here adds them all: users, keys, integrations, credentials, oauth, usage, logs, db, secrets.
"""

from __future__ import annotations

import click

from mcphub.commands import credentials, db, integrations, keys, logs, oauth, secrets, tools, usage, users

__all__ = ["register"]

_MODULES = (users, keys, integrations, credentials, oauth, usage, logs, db, secrets, tools)


def register(main: click.Group) -> None:
    for module in _MODULES:
        module.register(main)
