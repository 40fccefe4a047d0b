"""Sealed session ids (`mcphub.runtime.mcp.replicas`): what a replica rebuilds a handshake-era session from."""

from __future__ import annotations

import base64
import os
import time

from mcphub.runtime.mcp.replicas import SessionFacts, SessionSeal, negotiated_version

OWNER = ("user:1", "mcphub", "1")
INIT = {
    "protocolVersion": "2025-06-18",
    "capabilities": {"sampling": {}, "roots": {"listChanged": True}},
    "clientInfo": {"name": "claude-code", "version": "2.1", "icons": [{"src": "data:image/png;base64," + "A" * 5000}]},
}


def seal() -> SessionSeal:
    return SessionSeal(os.urandom(32), ttl_s=60)


def test_an_id_opens_to_what_initialize_declared_for_its_owner() -> None:
    sealer = seal()
    session_id = sealer.seal(SessionFacts.from_initialize(INIT, OWNER, sealer.ttl_s))
    facts = sealer.open(session_id)
    assert facts is not None
    assert (facts.version, facts.owner) == ("2025-06-18", OWNER)
    assert facts.capabilities == INIT["capabilities"]
    assert facts.client_info == {"name": "claude-code", "version": "2.1"}  # no icons: ids stay small
    assert len(session_id) < 400 and session_id.isascii() and " " not in session_id
    assert "claude" not in session_id and "sampling" not in base64.urlsafe_b64decode(session_id[3:] + "==").decode(
        "latin-1"
    )  # encrypted, not just signed


def test_ids_are_unique_and_bound_to_the_key_that_sealed_them() -> None:
    sealer = seal()
    facts = SessionFacts.from_initialize(INIT, OWNER, sealer.ttl_s)
    first, second = sealer.seal(facts), sealer.seal(facts)
    assert first != second
    assert seal().open(first) is None  # another hub's key


def test_an_edited_id_does_not_open() -> None:
    sealer = seal()
    session_id = sealer.seal(SessionFacts.from_initialize(INIT, OWNER, sealer.ttl_s))
    for position in range(3, len(session_id)):  # every character, the last one's unused low bits included
        for other in "ABab01-_":
            if other != session_id[position]:
                assert sealer.open(session_id[:position] + other + session_id[position + 1 :]) is None


def test_an_expired_or_foreign_id_does_not_open() -> None:
    sealer = seal()
    session_id = sealer.seal(SessionFacts.from_initialize(INIT, OWNER, sealer.ttl_s))
    assert sealer.open(session_id, now=time.time() + 61) is None
    for other in ("", "s1.", "s1.!!!", "0123456789abcdef0123456789abcdef", "s1." + "A" * 10_000):
        assert sealer.open(other) is None


def test_the_version_is_negotiated_as_the_sdk_negotiates_it() -> None:
    assert negotiated_version("2025-03-26") == "2025-03-26"
    latest = negotiated_version("1999-01-01")
    assert latest == negotiated_version(None) and latest.startswith("20")
    huge = {"capabilities": {"experimental": {"x": "y" * 5000}, "sampling": {"tools": {}}}}
    facts = SessionFacts.from_initialize(huge, None, 60)
    assert facts.capabilities == {"experimental": {}, "sampling": {}}  # which capabilities, without the detail
