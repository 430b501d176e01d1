"""An importer's export through the real ingest (issue 13 #2): faces found, a rerun adds nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image
from skimage import data as skdata
from sqlalchemy import select
from tool_formats import tg_message, write_tg_single

from nextofkin.gallery.records import Account, Photo, PhotoStatus, Source
from nextofkin.identify.derived import ingest
from nextofkin.workspace import Workspace

pytestmark = pytest.mark.models


def _face_photos(folder: Path) -> None:
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        grace = np.asarray(Image.open(handle).convert("RGB"))
    Image.fromarray(grace).save(folder / "photos" / "photo_1@01-05-2024_10-00-00.jpg")
    Image.fromarray(skdata.astronaut()).save(folder / "photos" / "photo_2@01-05-2024_11-00-00.jpg")


def test_telegram_export_ingests_into_platform_accounts_and_reruns_add_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "ChatExport_family"
    write_tg_single(
        folder,
        [
            tg_message(1, 101, "Grace", "photos/photo_1@01-05-2024_10-00-00.jpg", "me"),
            tg_message(2, 102, "Eileen", "photos/photo_2@01-05-2024_11-00-00.jpg", "at work"),
        ],
    )
    _face_photos(folder)
    first = ingest(workspace, folder, workers=1)
    assert (first.layout, first.accounts_added, first.photos_added) == ("telegram", 2, 2)
    assert first.faces_added >= 2 and first.failures == []
    again = ingest(workspace, folder, workers=1)
    assert (again.accounts_added, again.photos_added, again.faces_added) == (0, 0, 0)
    with workspace.session() as session:
        rows = session.execute(
            select(Source.name, Account.external_id, Photo.status)
            .join(Account, Account.source_id == Source.id)
            .join(Photo, Photo.account_id == Account.id)
            .order_by(Account.external_id)
        ).all()
        assert [tuple(r) for r in rows] == [
            ("telegram", "101", PhotoStatus.DONE),
            ("telegram", "102", PhotoStatus.DONE),
        ]
