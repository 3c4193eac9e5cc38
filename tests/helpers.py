"""Typed checks the tests share: problem answers and the fields they name."""

from __future__ import annotations

from typing import Any

from httpx import Response


def problem(response: Response, status: int) -> dict[str, Any]:
    """Assert ``response`` is an RFC 9457 problem with ``status``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    return body


def field_rules(body: dict[str, Any]) -> set[tuple[str, str]]:
    """The ``(field, rule)`` pairs a problem names."""
    return {(e["field"], e["rule"]) for e in body.get("errors", [])}
