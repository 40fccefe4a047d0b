"""What the playground shows of an upstream request: recorded only inside `recording()`, credentials redacted."""

from __future__ import annotations

from mcphub.runtime.upstream import trace


def test_nothing_is_recorded_outside_a_recording() -> None:
    assert trace.record("GET", "https://api.example.com/x", {}, None) is None


def test_a_recording_keeps_the_request_and_redaction_hides_the_credential() -> None:
    with trace.recording() as sent:
        entry = trace.record(
            "POST",
            "https://api.example.com/pets?api_key=s3cret&limit=5",
            {"Authorization": b"Bearer t0k", "X-Api-Key": "k3y", "Accept": "application/json"},
            b'{"name": "Rex"}',
        )
        assert entry is not None
        entry.status = 201
    assert len(sent) == 1
    shown = sent[0].redacted(headers=["x-api-key"], query=["api_key"])
    assert shown.headers["Authorization"] == trace.REDACTED and shown.headers["X-Api-Key"] == trace.REDACTED
    assert shown.headers["Accept"] == "application/json"
    assert "s3cret" not in shown.url and "limit=5" in shown.url
    assert shown.body == b'{"name": "Rex"}' and shown.status == 201
    assert sent[0].headers["X-Api-Key"] == "k3y"  # the recording itself is untouched
