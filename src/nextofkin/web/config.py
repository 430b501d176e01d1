"""What the web server needs beyond the shared settings: limits, cookie policy and its secret.

The session secret lives in the workspace (``web-secret``, mode 0600) and is generated on the first
start, so every restart keeps people logged in and no secret ever sits in a settings file.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from nextofkin.errors import ConfigError

log = logging.getLogger(__name__)

SECRET_FILE = "web-secret"  # noqa: S105 - a file name, not a secret

# Image types a post-mortem upload may be, by the first bytes of the file (never by its name).
IMAGE_MAGIC: dict[str, tuple[bytes, ...]] = {
    "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "webp": (b"RIFF",),  # checked further: bytes 8-12 are "WEBP"
    "bmp": (b"BM",),
    "tiff": (b"II*\x00", b"MM\x00*"),
    "gif": (b"GIF87a", b"GIF89a"),
}


@dataclass(frozen=True)
class WebConfig:
    """Limits and policies of the web server (defaults suit one team on one machine)."""

    max_upload_bytes: int = 25_000_000
    max_upload_files: int = 12
    session_max_age: int = 12 * 3600
    https_only: bool = False
    load_models: bool = True
    image_types: tuple[str, ...] = field(default=tuple(IMAGE_MAGIC))

    @property
    def max_request_bytes(self) -> int:
        """The largest request body accepted at all (every file at its limit, plus form fields)."""
        return self.max_upload_bytes * self.max_upload_files + 1_000_000


def load_secret(home: Path) -> str:
    """The workspace's session secret, created (readable by its owner only) if absent."""
    path = home / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot create the web secret {path}: {exc}") from exc
    else:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
        log.info("generated a new web session secret in %s", path)
    try:
        secret = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the web secret {path}: {exc}") from exc
    if len(secret) < 32:
        raise ConfigError(f"the web secret in {path} is too short: delete it to make a new one")
    return secret
