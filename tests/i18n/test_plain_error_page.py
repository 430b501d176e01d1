"""The plain-HTML 500 page (shown only when the templates themselves fail) speaks the reader's
language too, from the same catalogue entries as ``error.html``."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from nextofkin import i18n
from nextofkin.web import errors as web_errors
from nextofkin.web.problems import ErrorBody


def _broken_templates(request: Request, body: ErrorBody) -> None:
    raise RuntimeError("the templates are what broke")


@pytest.mark.parametrize(
    ("language", "heading", "back"),
    [
        ("en", "Something went wrong", "Back to the dashboard"),
        ("uk", "Щось пішло не так", "Повернутися до огляду"),
    ],
)
def test_plain_error_page_in_the_current_language(
    monkeypatch: pytest.MonkeyPatch, language: str, heading: str, back: str
) -> None:
    monkeypatch.setattr(web_errors, "render_error", _broken_templates)
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    body = ErrorBody(500, "InternalError", "<boom>", {})
    with i18n.use_language(language):
        response = web_errors._plain_error_page(request, body)
    html = bytes(response.body).decode()
    assert response.status_code == 500
    assert f"<html lang={language}>" in html
    assert f"<h1>{heading}</h1>" in html
    assert f"<a href=/>{back}</a>" in html
    assert "&lt;boom&gt;" in html  # the message is still escaped
