"""What a tool call sent upstream, for the one caller who asked to see it (the builder's playground).

`recording()` starts a list in a context variable; while it is set, `UpstreamClient` appends every request it
sends (method, URL, headers, body) and the status it got. Nothing is recorded outside a `recording()` block, so
ordinary calls pay one context-variable read. Credentials are in what is recorded: whoever shows it redacts them
(`SentRequest.redacted`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from mcphub.compiler.ir import AuthScheme

__all__ = ["ALWAYS_SECRET", "SentRequest", "record", "recording", "shown"]

ALWAYS_SECRET = frozenset({"authorization", "proxy-authorization", "cookie"})
REDACTED = "•••••• (redacted)"
_LIMIT = 64 * 1024  # of a body shown

_REQUESTS: ContextVar[list[SentRequest] | None] = ContextVar("mcphub_upstream_requests", default=None)


@dataclass(slots=True)
class SentRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    status: int | None = None

    def redacted(self, headers: Iterable[str] = (), query: Iterable[str] = ()) -> SentRequest:
        """A copy without the credential: these headers (and Authorization, Cookie) and query parameters masked."""
        secret = ALWAYS_SECRET | {name.lower() for name in headers}
        hidden = {name for name in query}
        parts = urlsplit(self.url)
        pairs = [(k, REDACTED if k in hidden else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        url = urlunsplit(parts._replace(query=urlencode(pairs, safe="•() "))) if pairs else self.url
        shown = {k: (REDACTED if k.lower() in secret else v) for k, v in self.headers.items()}
        return SentRequest(self.method, url, shown, self.body[:_LIMIT] if self.body else self.body, self.status)


def shown(sent: Iterable[SentRequest], auth: Iterable[AuthScheme]) -> list[SentRequest]:
    """The requests as a page may show them: the integration's credential headers and query parameters masked."""
    schemes = list(auth)
    headers = [a.param_name for a in schemes if a.location == "header" and a.param_name]
    query = [a.param_name for a in schemes if a.location == "query" and a.param_name]
    return [request.redacted(headers, query) for request in sent]


@contextmanager
def recording() -> Iterator[list[SentRequest]]:
    sent: list[SentRequest] = []
    token = _REQUESTS.set(sent)
    try:
        yield sent
    finally:
        _REQUESTS.reset(token)


def record(method: str, url: str, headers: Mapping[str, str | bytes], body: bytes | None) -> SentRequest | None:
    """Note one request about to be sent (None when nobody is recording)."""
    sent = _REQUESTS.get()
    if sent is None:
        return None
    text = {k: v.decode("latin-1") if isinstance(v, bytes) else v for k, v in headers.items()}
    entry = SentRequest(method, url, text, body)
    sent.append(entry)
    return entry
