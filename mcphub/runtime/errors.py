"""The one root of the runtime's exceptions, so a caller (the CLI, the web layer, an embedder) catches one base.

Like httpx's tree: every error the runtime raises on purpose derives from `HubError`, grouped where callers
tell them apart (`PolicyError`, `UpstreamUnavailable`, `AccountError`, ...). Errors that are also a standard kind
keep that base too (`CredentialError` is still a `ValueError`), so nothing that caught them before misses them now.
"""

from __future__ import annotations

__all__ = ["HubError"]


class HubError(Exception):
    """Something the runtime refuses or cannot do; the message says what and, where it can, what to do."""
