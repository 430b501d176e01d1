"""Bad probe photos on the real server (real models, the search worker pool): each is a 4xx in the
one error shape naming the photo, and the server goes on serving searches (issue 12 #6, #7)."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from skimage import data as skdata
from web_helpers import session_cookie

from bad_images import ztxt_bomb_png
from nextofkin.identify.derived import ingest
from nextofkin.settings import Settings
from nextofkin.web.config import WebConfig
from nextofkin.workspace import Workspace

pytestmark = pytest.mark.models


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def ivan(web_settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The investigator's client on a server with a three-face gallery and one search worker."""
    root = tmp_path / "export"
    for n, pixels in enumerate((skdata.astronaut(), skdata.astronaut()[:, ::-1], skdata.coffee())):
        (root / f"acc{n}").mkdir(parents=True)
        Image.fromarray(np.ascontiguousarray(pixels)).save(root / f"acc{n}" / "p.jpg")
    ws = Workspace.open(web_settings)
    try:
        ingest(ws, root, workers=1)
    finally:
        ws.close()
    web_settings.search.workers = 1
    from nextofkin.web.app import create_app

    app = create_app(web_settings, WebConfig(load_models=True, max_upload_bytes=30_000_000))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        csrf = secrets.token_urlsafe(32)
        client.cookies.set("nextofkin_session", session_cookie(app, "ivan", csrf))
        yield client, {"X-CSRF-Token": csrf}


def _identify(
    ivan: tuple[TestClient, dict[str, str]], name: str, data: bytes, kind: str
) -> tuple[int, dict[str, object]]:
    client, headers = ivan
    response = client.post("/api/identify", files=[("photos", (name, data, kind))], headers=headers)
    return response.status_code, response.json()


def test_bad_probe_photos_are_named_4xx_errors_and_searches_go_on(
    ivan: tuple[TestClient, dict[str, str]],
) -> None:
    status, body = _identify(ivan, "bomb.png", ztxt_bomb_png(), "image/png")
    assert 400 <= status < 500
    assert body["error"]["type"] == "UnreadableImage"  # type: ignore[index]
    assert "bomb.png" in body["error"]["message"]  # type: ignore[index]

    for name, pixels in (
        ("dot.png", np.full((1, 1, 3), 90, np.uint8)),
        ("strip.png", np.full((1, 40000, 3), 90, np.uint8)),
    ):
        status, body = _identify(ivan, name, _png(pixels), "image/png")
        assert status == 422, body
        error = body["error"]
        assert error["type"] == "ImageTooSmall"  # type: ignore[index]
        assert f"{name}: image is" in error["message"]  # type: ignore[index]
        assert "too small to hold a face" in error["message"]  # type: ignore[index]

    # The huge blank photo that used to hold the server for minutes: downscaled, no face, 422.
    blank = np.full((6300, 6300, 3), (90, 120, 150), np.uint8)
    status, body = _identify(ivan, "blank.jpg", _jpeg(blank), "image/jpeg")
    assert status == 422 and body["error"]["type"] == "NoFaceFound"  # type: ignore[index]
    assert any("downscaled 6300x6300" in t for t in body["error"]["tried"])  # type: ignore[index]

    status, body = _identify(ivan, "body.jpg", _jpeg(skdata.astronaut()), "image/jpeg")
    assert status == 200, body
    candidates = body["result"]["candidates"]  # type: ignore[index]
    assert candidates[0]["account"] in {"acc0", "acc1"}
