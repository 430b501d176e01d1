"""Purge: a person's or a source's photos, faces and vectors go from the database and the index."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cases.casework import FakeIdentify, add_team, candidate, photo
from nextofkin import audit
from nextofkin.cases.purge import purge_account, purge_source
from nextofkin.cases.service import identify_for_case
from nextofkin.cli import build_app
from nextofkin.errors import PermissionDenied
from nextofkin.gallery.index import FaissIndex
from nextofkin.gallery.maintenance import embedder_spec, open_index
from nextofkin.gallery.records import Account, Face, FaceRoleRecord, Image, Photo, Source
from nextofkin.identify.derived import cohort_store, refresh_derived
from nextofkin.identify.search import Evidence
from nextofkin.reports import write_report
from nextofkin.workspace import Workspace
from purge_scan import describe_traces


def build(ws: Workspace) -> dict[str, int]:
    """a posts img1 (alone) and img2 (with b, who posts it too); b posts img3; c posts img4."""
    spec = embedder_spec(ws)
    rng = np.random.default_rng(0)
    ids: dict[str, int] = {}
    with ws.session() as s:
        src = Source(name="vk", root="/x", layout="folder")
        s.add(src)
        s.flush()
        acc = {}
        for name in "abc":
            acc[name] = Account(
                source_id=src.id,
                external_id=name,
                contacts={},
                friends=[],
                extra={},
                roles_dirty=False,
            )
            s.add(acc[name])
        s.flush()
        layout = {"img1": ["a"], "img2": ["a", "b"], "img3": ["b"], "img4": ["c"]}
        faces_of = {"img1": ["fa1"], "img2": ["fa2", "fb2"], "img3": ["fb3"], "img4": ["fc4"]}
        for img, posters in layout.items():
            image = Image(
                sha256=img * 16,
                path=f"/x/{img}.jpg",
                width=100,
                height=100,
                size_bytes=1,
                detector="hog",
                tried=[],
            )
            s.add(image)
            s.flush()
            for poster in posters:
                s.add(
                    Photo(
                        source_id=src.id,
                        account_id=acc[poster].id,
                        rel_path=f"{img}.jpg",
                        status="done",
                        image_id=image.id,
                        tagged=[],
                    )
                )
            for k, face_name in enumerate(faces_of[img]):
                vec = rng.normal(size=spec.dim).astype(np.float32)
                face = Face(
                    image_id=image.id,
                    ordinal=k,
                    left=0,
                    top=0,
                    right=10,
                    bottom=10,
                    landmarks=[[0, 0]] * 5,
                    detection_score=1,
                    quality=0.9,
                    quality_parts={},
                    rotation=0,
                    model=spec.name,
                    alignment=spec.alignment,
                    embedding=vec / np.linalg.norm(vec),
                )
                s.add(face)
                s.flush()
                ids[face_name] = face.id
                owner = face_name[1]
                s.add(
                    FaceRoleRecord(
                        account_id=acc[owner].id,
                        face_id=face.id,
                        role="owner",
                        confidence=1,
                        cluster=0,
                    )
                )
                if face_name == "fa2":  # a appears in b's copy of the joint photo as companion
                    s.add(
                        FaceRoleRecord(
                            account_id=acc["b"].id,
                            face_id=face.id,
                            role="companion",
                            confidence=1,
                            cluster=1,
                        )
                    )
        vectors = s.execute(select(Face.id, Face.embedding)).all()
    index = FaissIndex.create(ws.index_dir, spec)
    index.add(np.array([v[0] for v in vectors]), np.stack([v[1] for v in vectors]))
    index.save()
    return ids


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    with workspace.session() as s:
        add_team(s)
    return workspace


def test_purge_account_consistent_in_db_and_index(ws: Workspace) -> None:
    ids = build(ws)
    with pytest.raises(PermissionDenied):
        purge_account(ws, "rita", "vk/a")
    report = purge_account(ws, "ada", "vk/a")
    assert (report.photos, report.images, report.faces) == (2, 1, 2)
    gone, kept = {ids["fa1"], ids["fa2"]}, {ids["fb2"], ids["fb3"], ids["fc4"]}
    with ws.session() as s:
        faces = set(s.scalars(select(Face.id)))
        assert faces == kept
        assert s.scalar(select(func.count(Image.id))) == 3  # the joint photo stays for b
        assert s.scalar(select(func.count(Account.id)).where(Account.external_id == "a")) == 0
        assert not s.scalars(select(FaceRoleRecord).where(FaceRoleRecord.face_id.in_(gone))).all()
        [entry] = [e for e in audit.entries(s) if e.action == "purge"]
        assert entry.subject == "account:vk/a" and entry.details["faces"] == 2
        assert audit.verify(s).ok
    index = open_index(ws)
    assert set(index.ids().tolist()) == kept
    assert report.index_total == 3


def test_purge_source_via_cli(ws: Workspace) -> None:
    build(ws)
    runner = CliRunner()
    base = ["--workspace", str(ws.home)]
    refused = runner.invoke(
        build_app(), [*base, "--user", "ivan", "purge", "--source", "vk", "--yes"]
    )
    assert refused.exit_code == 1 and "PermissionDenied" in refused.output
    out = runner.invoke(build_app(), [*base, "--user", "ada", "purge", "--source", "vk", "--yes"])
    assert out.exit_code == 0, out.output
    with ws.session() as s:
        assert s.scalar(select(func.count(Face.id))) == 0
        assert s.scalar(select(func.count(Source.id))) == 0
        assert s.scalar(select(func.count(Image.id))) == 0
    assert len(open_index(ws)) == 0


def _insert_person(ws: Workspace, name: str) -> dict[str, int]:
    """A new account with one photo, image and face; returns their ids."""
    spec = embedder_spec(ws)
    with ws.session() as s:
        source = s.scalars(select(Source)).first()
        assert source is not None
        account = Account(source_id=source.id, external_id=name, roles_dirty=False)
        image = Image(
            sha256=name.ljust(64, "0"),
            path=f"/x/{name}.jpg",
            width=100,
            height=100,
            size_bytes=1,
            detector="hog",
            tried=[],
        )
        s.add_all([account, image])
        s.flush()
        photo = Photo(
            source_id=source.id, account_id=account.id, rel_path="p.jpg", image_id=image.id
        )
        face = Face(
            image_id=image.id,
            ordinal=0,
            left=0,
            top=0,
            right=10,
            bottom=10,
            landmarks=[],
            detection_score=1,
            quality=0.9,
            quality_parts={},
            model=spec.name,
            alignment=spec.alignment,
            embedding=np.ones(spec.dim, np.float32) / np.sqrt(spec.dim),
        )
        s.add_all([photo, face])
        s.flush()
        return {"account": account.id, "image": image.id, "photo": photo.id, "face": face.id}


def test_face_ids_are_never_reused_after_purge(ws: Workspace) -> None:
    ids = build(ws)
    with ws.session() as s:
        highest = {
            "account": s.scalar(select(func.max(Account.id))),
            "image": s.scalar(select(func.max(Image.id))),
            "photo": s.scalar(select(func.max(Photo.id))),
            "face": s.scalar(select(func.max(Face.id))),
        }
    assert highest["face"] == ids["fc4"]  # c holds the highest id of every kind
    purge_account(ws, "ada", "vk/c")
    new = _insert_person(ws, "newcomer")
    for kind, old in highest.items():
        assert new[kind] > old, f"a new {kind} took the id of a purged one"


@pytest.mark.parametrize("factory", ["Flat", "HNSW32,Flat"])  # removes in place / tombstones
def test_purge_leaves_no_copy_in_index_generations_reports_or_wal(
    ws: Workspace, tmp_path: Path, factory: str
) -> None:
    from scale.synthetic import populate

    ids = build(ws)
    populate(ws, 5)  # 15 more identity faces: enough for a score-normalisation cohort
    ws.settings.score.min_cohort = 10
    # a's exclusive photo is a real file (outside the workspace, as exports are).
    picture = photo(tmp_path / "export" / "img1.jpg", seed=3)
    content = picture.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    with ws.session() as s:
        image = s.scalars(select(Image).where(Image.path == "/x/img1.jpg")).one()
        image.sha256, image.path = digest, str(picture)
        rows = s.execute(
            select(Face.id, Face.embedding).where(Face.id.in_([ids["fa1"], ids["fa2"]]))
        )
        purged = {int(face_id): vector for face_id, vector in rows}
    spec = embedder_spec(ws)
    FaissIndex.create(ws.index_dir, spec, factory).save()
    refresh_derived(ws)  # index, cohort (with a's faces) and calibration, all saved just now
    assert cohort_store(ws).load() is not None
    # A case whose search showed a's face, and its stored report.
    evidence = Evidence(
        ids["fa1"], 1, "img1.jpg", str(picture), [20, 20, 120, 100], 0.9, 0.9, "owner", "post", None
    )
    fake = FakeIdentify([candidate(1, "a", 0.9, "match", evidence=[evidence])])
    identify_for_case(ws, "ivan", "K-1", [photo(tmp_path / "probe.jpg")], service=fake)
    report = write_report(ws, "ivan", "K-1")
    assert report.is_relative_to(ws.home)
    vectors = list(purged.values())
    assert describe_traces(ws.home, vectors, [digest]), "the test must see the copies first"

    purge_account(ws, "ada", "vk/a")

    assert describe_traces(ws.home, vectors, [digest], [content]) == []
    assert not report.exists()
    with ws.session() as s:
        [files] = [e for e in audit.entries(s) if e.action == "purge.files"]
        assert files.details["reports_deleted"] == [str(report.relative_to(ws.home))]
        assert audit.verify(s).ok
    cohort = cohort_store(ws).load()
    assert cohort is not None and not set(purged) & set(cohort.cohort_faces.tolist())
    # The case report can be written again, without the purged face.
    write_report(ws, "ivan", "K-1")
    assert describe_traces(ws.home, vectors, [digest], [content]) == []


def test_purging_an_export_removes_its_photos_of_platform_accounts(
    ws: Workspace, tmp_path: Path
) -> None:
    """vk/5001 came through two exports, vk/5003 through one: purging that export removes its
    photos and faces of both, vk/5003 entirely, and keeps what the other export brought."""
    from gallery_rows import add_posted_face

    spec = embedder_spec(ws)
    rng = np.random.default_rng(5)
    posted: dict[str, tuple[int, np.ndarray, str]] = {}
    with ws.session() as s:
        vk, dl, api = (
            Source(name=n, root=f"/x/{n}", layout="manifest") for n in ("vk", "dl", "api")
        )
        s.add_all([vk, dl, api])
        s.flush()
        people = {
            e: Account(source_id=vk.id, external_id=e, platform="vk") for e in ("5001", "5003")
        }
        s.add_all(people.values())
        s.flush()
        for key, external, export in (("a", "5001", dl), ("b", "5001", api), ("c", "5003", dl)):
            picture = photo(tmp_path / f"{key}.jpg", seed=ord(key))
            vector = rng.normal(size=spec.dim).astype(np.float32)
            vector /= np.linalg.norm(vector)
            ids = add_posted_face(
                s,
                people[external],
                picture,
                vector,
                model=spec.name,
                alignment=spec.alignment,
                source_id=export.id,
            )
            digest = hashlib.sha256(picture.read_bytes()).hexdigest()
            posted[key] = (ids.face, vector, digest)
    index = FaissIndex.create(ws.index_dir, spec)
    index.add(
        np.array([f for f, _, _ in posted.values()]), np.stack([v for _, v, _ in posted.values()])
    )
    index.save()

    report = purge_source(ws, "ada", "dl")

    assert report.faces == 2
    with ws.session() as s:
        assert [a.external_id for a in s.scalars(select(Account))] == ["5001"]
        assert s.scalars(select(Face.id)).all() == [posted["b"][0]]
    assert set(open_index(ws).ids().tolist()) == {posted["b"][0]}
    gone = [posted[k] for k in ("a", "c")]
    assert describe_traces(ws.home, [v for _, v, _ in gone], [d for _, _, d in gone]) == []
