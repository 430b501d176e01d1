"""End to end on real LFW images: ingest, owner resolution, identify, idempotence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lfw_gallery import BuiltGallery, build
from nextofkin.errors import NoFaceFound
from nextofkin.gallery.ingest import IngestReport
from nextofkin.gallery.maintenance import open_index
from nextofkin.gallery.records import Account, Face, FaceRoleRecord, Image, Photo
from nextofkin.identify.derived import ingest
from nextofkin.identify.service import IdentifyService
from nextofkin.settings import Settings
from nextofkin.workspace import Workspace

pytestmark = [pytest.mark.lfw, pytest.mark.models, pytest.mark.slow]


@pytest.fixture(scope="module")
def gallery(lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltGallery:
    return build(lfw_dir, tmp_path_factory.mktemp("export") / "gallery")


@pytest.fixture(scope="module")
def ingested(
    gallery: BuiltGallery, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workspace, IngestReport]]:
    ws = Workspace.open(Settings.load(tmp_path_factory.mktemp("ws")))
    report = ingest(ws, gallery.root, workers=2)
    yield ws, report
    ws.close()


@pytest.fixture(scope="module")
def service(ingested: tuple[Workspace, IngestReport]) -> IdentifyService:
    return IdentifyService(ingested[0])


def test_ingest_counts_and_failures(
    gallery: BuiltGallery, ingested: tuple[Workspace, IngestReport]
) -> None:
    ws, report = ingested
    n_accounts = len(gallery.owners)
    assert report.accounts_added == n_accounts
    failures = {f.item: f.message for f in report.failures}
    assert "p/corrupt.jpg" in failures and "corrupt" in failures["p/corrupt.jpg"]
    assert any(
        item.startswith("photos.jsonl:") and "escapes" in msg for item, msg in failures.items()
    )
    assert any("not valid JSON" in msg for msg in failures.values())
    with ws.session() as session:
        photos = session.scalar(select(func.count(Photo.id)))
        images = session.scalar(select(func.count(Image.id)))
        faces = session.scalar(select(func.count(Face.id)))
    # 12 owners x 3 photos + 40 distractors + 2 reposts + 1 corrupt posting.
    assert photos == 12 * 3 + 40 + 2 + 1
    assert images == 12 * 3 + 40  # the repost is the same file: stored once
    assert report.duplicates_linked == 2
    assert faces is not None and faces >= images - 3
    assert len(open_index(ws)) == faces


def test_second_run_adds_nothing(
    gallery: BuiltGallery, ingested: tuple[Workspace, IngestReport]
) -> None:
    ws, _ = ingested
    again = ingest(ws, gallery.root, workers=2)
    assert (
        again.accounts_added,
        again.photos_added,
        again.images_processed,
        again.faces_added,
    ) == (0, 0, 0, 0)
    with ws.session() as session:
        assert session.scalar(select(func.count(Image.id))) == 12 * 3 + 40


def test_owner_resolution_with_joint_photos(
    gallery: BuiltGallery, ingested: tuple[Workspace, IngestReport]
) -> None:
    """LFW portraits are centred at (125, 125); in a joint photo the owner is the left half."""
    ws, _ = ingested
    with ws.session() as session:
        for account_id in gallery.group_photos:
            account = session.scalars(
                select(Account).where(Account.external_id == account_id)
            ).one()
            roles = session.execute(
                select(FaceRoleRecord.role, Face.left, Face.top, Face.right, Face.bottom)
                .join(Face, Face.id == FaceRoleRecord.face_id)
                .where(FaceRoleRecord.account_id == account.id)
            ).all()
            owners = [r for r in roles if r.role == "owner"]
            # HOG misses the odd LFW face, so an account may show 2 of its 3 owner faces.
            assert len(owners) >= 2, (account_id, roles)
            for owner in owners:
                cx, cy = (owner.left + owner.right) / 2, (owner.top + owner.bottom) / 2
                assert abs(cx - 125) < 40 and abs(cy - 125) < 40, (account_id, owner)
            # The companion on the right half of the joint photo is a companion.
            assert any(r.role == "companion" and (r.left + r.right) / 2 > 300 for r in roles), (
                account_id,
                roles,
            )


def test_mated_probe_finds_its_account(gallery: BuiltGallery, service: IdentifyService) -> None:
    hits = 0
    for account, photo in gallery.held_out.items():
        result = service.identify([photo], top=5)
        assert result.candidates[0].evidence, "candidates carry evidence"
        hits += result.candidates[0].account == account
    assert hits >= len(gallery.held_out) - 1


def test_result_shape_and_meaning(gallery: BuiltGallery, service: IdentifyService) -> None:
    _account, photo = next(iter(gallery.held_out.items()))
    result = service.identify([photo], top=3).to_dict()
    top = result["candidates"][0]
    assert set(top) >= {"account", "score", "decision", "evidence", "meaning", "fpir"}
    assert top["decision"] in ("match", "possible", "no match")
    assert "stranger" in top["meaning"]
    assert top["evidence"][0]["photo"].startswith("p/")
    assert [c["score"] for c in result["candidates"]] == sorted(
        (c["score"] for c in result["candidates"]), reverse=True
    )


def test_rotated_and_fused_probes(
    gallery: BuiltGallery, service: IdentifyService, tmp_path: Path
) -> None:
    from PIL import Image as PILImage

    account, photo = sorted(gallery.held_out.items())[3]
    rotated = tmp_path / "rotated.jpg"
    PILImage.open(photo).rotate(90, expand=True).save(rotated)
    result = service.identify([rotated], top=3)
    assert result.candidates[0].account == account
    assert result.probes[0].rotation != 0
    fused = service.identify([rotated, photo], top=3)
    assert fused.candidates[0].account == account
    assert len(fused.probes) == 2


def test_non_mated_probes_are_not_matches(gallery: BuiltGallery, service: IdentifyService) -> None:
    decisions = [service.identify([p], top=1).candidates[0].decision for p in gallery.strangers]
    assert decisions.count("match") == 0


def test_probe_without_face(service: IdentifyService, tmp_path: Path) -> None:
    from PIL import Image as PILImage

    blank = tmp_path / "blank.png"
    PILImage.new("RGB", (120, 120), (90, 90, 90)).save(blank)
    # The message is one short line; the attempts (every quarter turn among them) come as a list.
    with pytest.raises(NoFaceFound, match="no face found after") as caught:
        service.identify([blank])
    assert any("rotated 90" in attempt for attempt in caught.value.tried)
