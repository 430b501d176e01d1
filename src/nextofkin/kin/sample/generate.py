"""Write a sample gallery: manifests, rendered photos, ground truth (docs/SAMPLE_GALLERY.md)."""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nextofkin.errors import InputError
from nextofkin.i18n import gettext
from nextofkin.kin.sample.compose import RenderJob, RenderResult, Sprite, render
from nextofkin.kin.sample.declared import DeclaredRelative, declare_relatives, position_tags
from nextofkin.kin.sample.population import Population, build_population, load_identities
from nextofkin.kin.translit import transliterate

log = logging.getLogger(__name__)

FORMAT = "nextofkin-sample-gallery/1"
TRUTH_FILE = "truth.json"


@dataclass(frozen=True)
class GalleryReport:
    """What was generated."""

    root: str
    accounts: int
    people: int
    photos: int
    faces: int
    relations: dict[str, int]


def _canonical_name(population: Population, pid: str) -> str:
    p = population.people[pid]
    lang = "uk" if p.lang == "uk" else "ru"
    first = p.first.uk if lang == "uk" else p.first.ru
    return transliterate(f"{first} {p.surname.form(p.gender, lang)}", "uk")


def _jobs(
    population: Population, root: Path, seed: int, backgrounds: list[Path]
) -> list[RenderJob]:
    rng = random.Random(seed * 7919 + 1)
    jobs = []
    for index, plan in enumerate(population.photos):
        sprites = []
        for pid in plan.people:
            source, flip = population.people[pid].take_photo(rng)
            sprites.append(Sprite(pid, str(source), flip))
        jobs.append(
            RenderJob(
                out=str(root / plan.path),
                kind=plan.render,
                sprites=tuple(sprites),
                background=str(rng.choice(backgrounds)),
                seed=seed,
                index=index,
            )
        )
    return jobs


def _render_all(
    jobs: list[RenderJob], workers: int, progress: Callable[[int], None] | None
) -> Iterator[RenderResult]:
    if workers <= 1:
        for job in jobs:
            yield render(job)
            if progress:
                progress(1)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(render, jobs, chunksize=8):
            yield result
            if progress:
                progress(1)


def _check_root(root: Path) -> None:
    if root.exists() and any(root.iterdir()) and not (root / TRUTH_FILE).exists():
        raise InputError(
            gettext(
                "%(root)s is not empty and holds no sample gallery: choose an empty or new folder",
                root=root,
            )
        )


def _dump(path: Path, rows: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")


def generate(
    faces: Path,
    root: Path,
    seed: int,
    accounts: int,
    *,
    workers: int = 1,
    density: float = 1.0,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> GalleryReport:
    """Generate a sample gallery of ``accounts`` accounts from the face set at ``faces``.

    The same face set, seed and account count give byte-identical manifests, truth and images
    (with the same Pillow/libjpeg build), whatever ``workers`` is. ``on_plan`` is told how many
    photos will be rendered, ``progress`` is called once per rendered photo.
    """
    root = root.resolve()
    _check_root(root)
    identities = load_identities(faces)
    population = build_population(identities, accounts, seed, density)
    backgrounds = [identity.photos[0] for identity in identities]
    jobs = _jobs(population, root, seed, backgrounds)
    if on_plan:
        on_plan(len(jobs))
    root.mkdir(parents=True, exist_ok=True)
    results = list(_render_all(jobs, workers, progress))

    declared = declare_relatives(population, seed)
    accounts_rows = _account_rows(population, declared)
    photo_rows, truth_photos = _photo_rows(population, results, seed)
    _dump(root / "accounts.jsonl", accounts_rows)
    _dump(root / "photos.jsonl", photo_rows)
    truth, relation_counts = _truth(population, declared, truth_photos)
    truth = {
        "format": FORMAT, "seed": seed, "accounts_requested": accounts, "density": density,
        "faces_dir": faces.name,
    } | truth  # fmt: skip
    (root / TRUTH_FILE).write_text(
        json.dumps(truth, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    n_faces = sum(len(r.faces) for r in results)
    log.info(
        "sample gallery %s: %d accounts, %d photos, %d faces",
        root,
        len(accounts_rows),
        len(photo_rows),
        n_faces,
    )
    return GalleryReport(
        root=str(root),
        accounts=len(accounts_rows),
        people=len(population.people),
        photos=len(photo_rows),
        faces=n_faces,
        relations=dict(sorted(relation_counts.items())),
    )


def _account_rows(population: Population, declared: list[DeclaredRelative]) -> list[dict[str, Any]]:
    """The manifest's account lines: profile photo and declared relatives added."""
    declared_by: dict[str, list[dict[str, str]]] = {}
    for d in declared:
        declared_by.setdefault(d.account, []).append({"account": d.relative, "type": d.type})
    accounts_rows = []
    for acc, row in population.accounts.items():
        profile = next(
            (p.path for p in population.photos if p.account == acc and p.kind == "profile"), None
        )
        extra: dict[str, object] = {"profile_photo": profile} if profile else {}
        if acc in declared_by:
            extra["relatives"] = declared_by[acc]
        accounts_rows.append(row | extra)
    return accounts_rows


def _photo_rows(
    population: Population, results: list[RenderResult], seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The manifest's photo lines and the truth's photos (true faces and tags)."""
    people = population.people
    photo_rows = []
    truth_photos = []
    # Its own stream: the photos, captions and pictures of a seed stay as they were.
    tag_rng = random.Random(seed * 7919 + 2)
    people_accounts = {pid: p.account for pid, p in people.items()}
    for plan, result in zip(population.photos, results, strict=True):
        line: dict[str, Any] = {"path": plan.path, "account": plan.account}
        if plan.caption:
            line["caption"] = plan.caption
        line["posted_at"] = plan.posted_at
        tags_truth: list[dict[str, Any]] = []
        if plan.tagged:
            line["tagged"], tags_truth = position_tags(
                plan.tagged, result.faces, people_accounts, (result.width, result.height),
                tag_rng,
            )  # fmt: skip
        line["kind"] = plan.kind
        photo_rows.append(line)
        truth_photos.append(
            {
                "path": plan.path,
                "account": plan.account,
                "topic": plan.topic,
                "width": result.width,
                "height": result.height,
                "faces": [
                    {
                        "person": face.person,
                        "identity": people[face.person].identity.name,
                        "account": people[face.person].account,
                        "source": face.source,
                        "flip": face.flip,
                        "box": list(face.box),
                    }
                    for face in result.faces
                ],
                "tagged": tags_truth,
            }
        )
    return photo_rows, truth_photos


def _truth(
    population: Population, declared: list[DeclaredRelative], truth_photos: list[dict[str, Any]]
) -> tuple[dict[str, Any], Counter[str]]:
    """The ground truth after its header (people, accounts, relations, declarations, photos),
    and the count of relations by type."""
    people = population.people
    relation_counts = Counter(kind for _, _, kind in population.relations)
    friend_pairs = sorted(
        {tuple(sorted((a, b))) for a, others in population.friends.items() for b in others}
    )
    relation_counts["friend"] = len(friend_pairs)
    relations = [(a, b, kind) for a, b, kind in population.relations]
    relations += [(a, b, "friend") for a, b in friend_pairs]
    truth = {
        "people": {
            pid: {
                "identity": p.identity.name,
                "gender": p.gender,
                "name": _canonical_name(population, pid),
                "born": p.born,
                "city": p.city.latin[0],
                "lang": p.lang,
                "family": p.family,
                "account": p.account,
            }
            for pid, p in people.items()
        },
        "accounts": {p.account: pid for pid, p in people.items() if p.account},
        "relations": [
            {
                "a": a,
                "b": b,
                "type": kind,
                "a_account": people[a].account,
                "b_account": people[b].account,
            }
            for a, b, kind in relations
        ],
        "dangling_friend_ids": population.dangling,
        "declared_relatives": [
            {"account": d.account, "relative": d.relative, "type": d.type, "truth": d.truth}
            for d in declared
        ],
        "photos": truth_photos,
    }
    return truth, relation_counts
