"""Where model files are: dlib's weights that ``face_recognition_models`` ships, and the cache of
what is made from them once (ONNX conversions, dlib's HOG detector in its binary form).

Every ``nextofkin identify`` starts a new process, so what happens here on every start is paid on
every command. Finding the weights does not import ``face_recognition_models``: its ``__init__``
imports ``pkg_resources`` (half a second) only to join a path. A weights file's SHA-256 (the key of
its conversions) is remembered beside the cache, by the file's size, modification time and inode,
instead of reading 22 MB again on each start.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path

from nextofkin.errors import ModelError
from nextofkin.i18n import gettext
from nextofkin.settings import Settings

# The files of face_recognition_models that nextofkin uses, by the name the code knows them by.
WEIGHTS = {
    "resnet": "dlib_face_recognition_resnet_model_v1.dat",
    "mmod": "mmod_human_face_detector.dat",
    "five-point": "shape_predictor_5_face_landmarks.dat",
}


def weights_file(name: str) -> Path:
    """The path of one of ``face_recognition_models``' weights files (see :data:`WEIGHTS`)."""
    spec = importlib.util.find_spec("face_recognition_models")
    folders = (spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "models" / WEIGHTS[name]
        if path.is_file():
            return path
    raise ModelError(gettext("the face_recognition_models package is not installed"))


def default_cache_dir() -> Path:
    """The settings' ``vision.model_cache`` (``NEXTOFKIN_VISION__MODEL_CACHE``, or the flat
    ``NEXTOFKIN_MODEL_CACHE``), else the user cache dir (``$XDG_CACHE_HOME`` or ~/.cache)."""
    configured = Settings().vision.model_cache
    if configured:
        return configured
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "nextofkin" / "models"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def remembered_sha256(path: Path, cache_dir: Path) -> str:
    """``file_sha256(path)``, read from ``cache_dir`` when the file has not changed since.

    A file counts as unchanged while its size, modification time (ns) and inode are the ones
    recorded with the digest: replacing or rewriting it changes at least one of them.
    """
    stat = path.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    memo = cache_dir / "sha256" / f"{path.name}-{key}.json"
    try:
        known = json.loads(memo.read_text(encoding="utf-8"))
        if isinstance(known, dict) and all(known.get(k) == v for k, v in stamp.items()):
            return str(known["sha256"])
    except (OSError, ValueError, KeyError):
        pass  # no memo yet, or a damaged one: hash the file
    digest = file_sha256(path)
    with contextlib.suppress(OSError):  # a read-only cache only costs the hash next time
        atomic_write(memo, json.dumps({**stamp, "sha256": digest}).encode())
    return digest


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place, so a process
    reading it at the same time sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
