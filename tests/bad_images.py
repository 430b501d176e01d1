"""Hostile images made in code, shared by the vision, gallery and web tests."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def ztxt_bomb_png() -> bytes:
    """A valid 64x64 PNG carrying a zTXt chunk that inflates to 200 MB (~200 KB on disk)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 100, 50)).save(buffer, "PNG")
    png = buffer.getvalue()
    squeezer = zlib.compressobj(9)
    text = squeezer.compress(b"a" * 200_000_000) + squeezer.flush()
    header_end = 8 + 25  # signature + IHDR chunk
    return png[:header_end] + _chunk(b"zTXt", b"Comment\x00\x00" + text) + png[header_end:]
