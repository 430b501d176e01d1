"""Uploaded post-mortem photos: size, count and type checked before any service sees them.

Files are streamed to a private temporary directory inside the workspace, at most
``max_upload_bytes`` each, and must start like one of the accepted image types (the name and the
declared content type are not trusted). The case service then copies them under chain of custody
and decodes them with its own limits; the temporary files are removed afterwards.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from starlette.datastructures import UploadFile

from nextofkin.web.config import IMAGE_MAGIC, WebConfig
from nextofkin.web.errors import UploadRejected, UploadTooLarge

CHUNK = 1 << 20


def sniff(head: bytes) -> str | None:
    """The image type the first bytes of a file announce, or None."""
    for kind, magics in IMAGE_MAGIC.items():
        for magic in magics:
            if head.startswith(magic):
                if kind == "webp" and head[8:12] != b"WEBP":
                    continue
                return kind
    return None


def safe_name(name: str | None, index: int) -> str:
    """A harmless file name keeping what a person would recognise of the original."""
    base = Path((name or "").replace("\\", "/")).name
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .")[:120]
    return base or f"photo-{index}"


@contextmanager
def saved_uploads(
    files: Sequence[UploadFile], config: WebConfig, scratch: Path
) -> Iterator[list[Path]]:
    """The uploads written to a temporary directory under ``scratch``, removed on exit.

    Raises :class:`UploadRejected` (415) for no file, too many files or a type that is not an
    accepted image, and :class:`UploadTooLarge` (413) for a file over the size limit.
    """
    files = [f for f in files if f.filename or f.size]
    if not files:
        raise UploadRejected("no photo was uploaded")
    if len(files) > config.max_upload_files:
        raise UploadRejected(f"at most {config.max_upload_files} photos per upload")
    scratch.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="upload-", dir=scratch))
    try:
        paths: list[Path] = []
        used: set[str] = set()
        for i, upload in enumerate(files, start=1):
            name = safe_name(upload.filename, i)
            while name in used:
                name = f"{i}-{name}"
            used.add(name)
            target = directory / name
            _write_checked(upload, target, config)
            paths.append(target)
        yield paths
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _write_checked(upload: UploadFile, target: Path, config: WebConfig) -> None:
    upload.file.seek(0)
    head = upload.file.read(16)
    kind = sniff(head)
    if kind is None or kind not in config.image_types:
        accepted = ", ".join(config.image_types)
        raise UploadRejected(
            f"{upload.filename or 'upload'} is not an accepted image (accepted: {accepted})"
        )
    written = len(head)
    with target.open("wb") as out:
        out.write(head)
        while chunk := upload.file.read(CHUNK):
            written += len(chunk)
            if written > config.max_upload_bytes:
                raise UploadTooLarge(
                    f"{upload.filename or 'upload'} is over {config.max_upload_bytes:,} bytes"
                )
            out.write(chunk)
