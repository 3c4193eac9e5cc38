"""The console's files: served under /ui/ from the package, and no part of the API's
OpenAPI document."""

from __future__ import annotations

import pytest

from metapaas.testing import InProcessControlPlane

OPERATIONAL = {"/healthz", "/readyz", "/metrics"}
"""The only paths of the OpenAPI document outside /v1/."""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        pytest.param("/ui/", "text/html", id="the console's page"),
        pytest.param("/ui/js/app.js", "javascript", id="its scripts"),
        pytest.param("/ui/console.css", "text/css", id="its style sheet"),
        pytest.param("/ui/extensions.json", "application/json", id="the distributions' pages"),
    ],
)
def test_the_console_is_served_without_a_token(
    api: InProcessControlPlane, path: str, kind: str
) -> None:
    answer = api.get(path, token=None)

    assert answer.status_code == 200, answer.text
    assert kind in answer.headers["content-type"]
    assert "default-src 'self'" in answer.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/", "/ui"])
def test_the_servers_address_leads_to_the_console(api: InProcessControlPlane, path: str) -> None:
    answer = api.get(path, token=None, follow_redirects=False)

    assert answer.status_code in (307, 308)
    assert answer.headers["location"].endswith("/ui/")


def test_the_console_is_no_api_operation(api: InProcessControlPlane) -> None:
    paths = api.get("/openapi.json").json()["paths"]

    assert [p for p in paths if not p.startswith("/v1/") and p not in OPERATIONAL] == []
