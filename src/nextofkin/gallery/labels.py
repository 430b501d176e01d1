"""What people read for a face's role and a photo's kind (stored values stay English)."""

from __future__ import annotations

from nextofkin.gallery.records import FaceRole
from nextofkin.i18n import N_, label

FACE_ROLE_NAMES: dict[str, str] = {
    FaceRole.OWNER: N_("owner"),
    FaceRole.COMPANION: N_("companion"),
    FaceRole.UNKNOWN: N_("unknown"),
}

# Photo.kind holds "profile" or "post" (gallery.formats).
PHOTO_KIND_NAMES: dict[str, str] = {"profile": N_("profile photo"), "post": N_("post")}


def face_role_label(role: object) -> str:
    """A face's role for an account, in the current language."""
    return label(FACE_ROLE_NAMES, role)


def photo_kind_label(kind: object) -> str:
    """A photo's kind (profile photo or post), in the current language."""
    return label(PHOTO_KIND_NAMES, kind)
