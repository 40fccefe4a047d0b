"""Tenancy: accounts and keys, enablement, policy, per-user credentials, the vault, usage and the change feed.

`services.Tenancy` builds them all from the environment. This package imports nothing itself, so reading
one of its modules (the CLI does) does not load the others.
"""
