"""The one settings object: flat legacy names, nested groups, secrets checked when it loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from nextofkin.settings import Settings


def test_flat_names_reach_their_group_and_win_over_nested(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEXTOFKIN_SMTP__HOST", "nested.example")
    monkeypatch.setenv("NEXTOFKIN_SMTP__PORT", "2525")
    monkeypatch.setenv("NEXTOFKIN_SMTP_HOST", "flat.example")
    monkeypatch.setenv("NEXTOFKIN_SMTP_FROM", "team@example.org")
    monkeypatch.setenv("NEXTOFKIN_MODEL_PACK", str(tmp_path / "pack"))
    monkeypatch.setenv("NEXTOFKIN_VISION__MODEL_CACHE", str(tmp_path / "cache"))
    settings = Settings.load(tmp_path)
    assert settings.smtp.host == "flat.example" and settings.smtp.port == 2525
    assert settings.smtp.sender == "team@example.org"
    assert settings.vision.model_pack == tmp_path / "pack"
    assert settings.vision.model_cache == tmp_path / "cache"


def test_smtp_password_is_secret_and_checked_at_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEXTOFKIN_SMTP_USER", "mailer")
    monkeypatch.setenv("NEXTOFKIN_SMTP_PASSWORD", "s3cret")
    settings = Settings.load(tmp_path)
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in settings.model_dump_json()
    monkeypatch.delenv("NEXTOFKIN_SMTP_USER")
    with pytest.raises(ValidationError, match="without NEXTOFKIN_SMTP__USER"):
        Settings.load(tmp_path)
    monkeypatch.setenv("NEXTOFKIN_SMTP_USER", "mailer")
    monkeypatch.setenv("NEXTOFKIN_SMTP_PASSWORD", "")
    with pytest.raises(ValidationError, match="is empty"):
        Settings.load(tmp_path)


def test_web_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from nextofkin.web.config import WebConfig

    assert WebConfig.from_settings(Settings.load(tmp_path).web) == WebConfig()  # same defaults
    monkeypatch.setenv("NEXTOFKIN_WEB__MAX_UPLOAD_MB", "5")
    monkeypatch.setenv("NEXTOFKIN_WEB__HTTPS_ONLY", "true")
    monkeypatch.setenv("NEXTOFKIN_WEB__LOAD_MODELS", "false")
    config = WebConfig.from_settings(Settings.load(tmp_path).web)
    assert config.max_upload_bytes == 5_000_000 and config.https_only and not config.load_models
