"""What the web server needs beyond the shared settings: upload limits and cookie policy.

Sessions live in the database (:mod:`nextofkin.web.sessions`), so there is no signing secret: a
restart keeps people logged in, and a logout ends a session everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nextofkin.settings import WebSettings

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
    https_only: bool = False  # the session cookie only over HTTPS (behind a TLS proxy)
    load_models: bool = True
    image_types: tuple[str, ...] = field(default=tuple(IMAGE_MAGIC))

    @classmethod
    def from_settings(cls, web: WebSettings) -> WebConfig:
        """The limits and policies the settings give (``NEXTOFKIN_WEB__*``)."""
        return cls(
            max_upload_bytes=web.max_upload_mb * 1_000_000,
            max_upload_files=web.max_upload_files,
            https_only=web.https_only,
            load_models=web.load_models,
        )

    @property
    def max_request_bytes(self) -> int:
        """The largest request body accepted at all (every file at its limit, plus form fields)."""
        return self.max_upload_bytes * self.max_upload_files + 1_000_000
