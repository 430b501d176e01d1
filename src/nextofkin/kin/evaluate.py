"""Evaluation of the kin engine on a generated sample gallery that has been ingested.

For every account of the gallery it runs the engine and compares the ranking with the ground
truth (``truth.json``): precision and recall of true relatives in the top 3 and top 5, how often
the first candidate is a true relative, how often the engine labels it family, recall per kind of
relation, and how often a relative's face (a sibling's above all) is merged into the person's own
identity, both by owner resolution and by the gallery-wide search.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from nextofkin.errors import InputError, NotFound
from nextofkin.gallery.records import Account, Face, FaceRoleRecord, Image, Photo, Source
from nextofkin.i18n import _
from nextofkin.kin.engine import KinResult, KinService
from nextofkin.kin.sample.generate import FORMAT, TRUTH_FILE
from nextofkin.kin.sample.population import FAMILY_TYPES

log = logging.getLogger(__name__)


@dataclass
class Truth:
    """The parts of ``truth.json`` the evaluation needs, by account."""

    owner_of: dict[str, str]  # account -> person id
    person_account: dict[str, str | None]
    relatives: dict[str, dict[str, str]]  # account -> related account -> relation type
    friends: dict[str, set[str]]
    person_relation: dict[tuple[str, str], str]  # (person, person) -> type, both orders
    photos: list[dict[str, Any]]
    params: dict[str, Any]
    declared: dict[str, set[str]] = field(default_factory=dict)  # either profile, both ways


def load_truth(root: Path) -> Truth:
    """Read ``ROOT/truth.json`` written by ``nextofkin sample-gallery``."""
    path = root / TRUTH_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            _("cannot read the ground truth %(path)s: %(exc)s", path=path, exc=exc)
        ) from exc
    if data.get("format") != FORMAT:
        raise InputError(
            _("%(path)s is not a sample-gallery truth file (%(format)s)", path=path, format=FORMAT)
        )
    relatives: dict[str, dict[str, str]] = defaultdict(dict)
    friends: dict[str, set[str]] = defaultdict(set)
    person_relation: dict[tuple[str, str], str] = {}
    for rel in data["relations"]:
        kind = rel["type"]
        person_relation[(rel["a"], rel["b"])] = kind
        person_relation[(rel["b"], rel["a"])] = kind
        a, b = rel["a_account"], rel["b_account"]
        if not a or not b:
            continue
        if kind == "friend":
            friends[a].add(b)
            friends[b].add(a)
        else:
            relatives[a][b] = kind if kind != "parent" else "parent/child"
            relatives[b][a] = kind if kind != "parent" else "parent/child"
    declared: dict[str, set[str]] = defaultdict(set)
    for d in data.get("declared_relatives", ()):
        declared[d["account"]].add(d["relative"])
        declared[d["relative"]].add(d["account"])
    people = data["people"]
    params = {
        "seed": data["seed"],
        "accounts": len(data["accounts"]),
        "people": len(people),
        "photos": len(data["photos"]),
        "faces": sum(len(p["faces"]) for p in data["photos"]),
        "relations": dict(Counter(r["type"] for r in data["relations"])),
        # What the sources declare (galleries made before issue 13 have none).
        "declared_relatives": dict(Counter(d["truth"] for d in data.get("declared_relatives", ()))),
        "tags": dict(Counter(t["form"] for p in data["photos"] for t in p.get("tagged", ()))),
    }
    return Truth(
        owner_of=dict(data["accounts"]),
        person_account={pid: p["account"] for pid, p in people.items()},
        relatives=dict(relatives),
        friends=dict(friends),
        person_relation=person_relation,
        photos=data["photos"],
        params=params,
        declared=dict(declared),
    )


@dataclass
class KinEvaluation:
    """The figures of one evaluation run."""

    source: str
    gallery: dict[str, Any]
    accounts_evaluated: int
    accounts_with_relatives: int
    top1_relative: float
    top1_relative_or_friend: float
    # First candidate a true relative, by what the profiles declare: a true relative on either
    # profile, only noise (a friend as a sibling, an unknown id), nothing.
    top1_relative_by_declared: dict[str, dict[str, float]]
    top1_labelled_family: float
    top1_family_label_correct: float
    precision_at_3: float
    precision_at_5: float
    recall_at_3: float
    recall_at_5: float
    recall_at_5_uncapped: float
    recall_at_5_by_relation: dict[str, float]
    family_label_precision_top5: float
    family_label_recall_top5: float
    owner_resolution_accuracy: float
    face_detection_recall: float
    merged_into_owner: dict[str, dict[str, float]]
    sibling_search_merges: dict[str, float]
    latency_ms: dict[str, float]
    declared_links_used: bool = True  # False: declared relatives and tag positions ignored
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return asdict(self)


def _ratio(num: float, den: float) -> float:
    return round(num / den, 4) if den else 0.0


def _relation_class(kind: str | None) -> str:
    if kind is None:
        return "unrelated"
    if kind in FAMILY_TYPES:
        return "sibling" if kind == "sibling" else "other family"
    return kind


def _face_checks(
    service: KinService, source_id: int, truth: Truth
) -> tuple[float, float, dict[str, dict[str, float]]]:
    """Owner resolution accuracy, detection recall, and merges of others' faces into owners."""
    with service.workspace.session() as session:
        accounts = dict(
            session.execute(
                select(Account.external_id, Account.id).where(Account.source_id == source_id)
            ).all()
        )
        rows = session.execute(
            select(Photo.rel_path, Photo.account_id, Face.id, Face.left, Face.top, Face.right,
                   Face.bottom)
            .join(Image, Image.id == Photo.image_id)
            .join(Face, Face.image_id == Image.id)
            .where(Photo.source_id == source_id)
        ).all()  # fmt: skip
        roles = {
            (a, f): r
            for a, f, r in session.execute(
                select(FaceRoleRecord.account_id, FaceRoleRecord.face_id, FaceRoleRecord.role)
                .join(Account, Account.id == FaceRoleRecord.account_id)
                .where(Account.source_id == source_id)
            )
        }
    faces_by_photo: dict[str, list[tuple[int, int, tuple[float, float, float, float]]]] = (
        defaultdict(list)
    )
    for rel_path, account_id, face_id, left, top, right, bottom in rows:
        faces_by_photo[rel_path].append((account_id, face_id, (left, top, right, bottom)))
    detected = total = 0
    owner_right = owner_total = 0
    merged: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for photo in truth.photos:
        poster_id = accounts.get(photo["account"])
        owner = truth.owner_of.get(photo["account"])
        found = faces_by_photo.get(photo["path"], [])
        for face in photo["faces"]:
            total += 1
            left, top, right, bottom = face["box"]
            cx, cy = (left + right) / 2, (top + bottom) / 2
            match = next(
                (f for f in found if f[2][0] <= cx <= f[2][2] and f[2][1] <= cy <= f[2][3]), None
            )
            if match is None or poster_id is None:
                continue
            detected += 1
            role = roles.get((poster_id, match[1]))
            if face["person"] == owner:
                owner_total += 1
                owner_right += role == "owner"
            else:
                cls = _relation_class(truth.person_relation.get((owner or "", face["person"])))
                merged[cls][1] += 1
                merged[cls][0] += role == "owner"
    merges: dict[str, dict[str, float]] = {
        cls: {"faces": float(n), "merged": float(m), "rate": _ratio(m, n)}
        for cls, (m, n) in sorted(merged.items())
    }
    return _ratio(owner_right, owner_total), _ratio(detected, total), merges


def _ingested_accounts(
    service: KinService, root: Path, truth: Truth, source_name: str
) -> tuple[int, list[str]]:
    """The source's id and the truth's accounts it holds."""
    with service.workspace.session() as session:
        src = session.scalars(select(Source).where(Source.name == source_name)).first()
        if src is None:
            raise NotFound(
                _(
                    "source %(source_name)r is not ingested in this workspace: run "
                    "`nextofkin ingest %(root)s` first (or name it with --source)",
                    source_name=source_name,
                    root=root,
                )
            )
        ingested = set(
            session.scalars(select(Account.external_id).where(Account.source_id == src.id))
        )
    return src.id, [a for a in sorted(truth.owner_of) if a in ingested]


@dataclass
class _Tally:
    """Counts over the evaluated accounts (hit, total pairs as two-item lists)."""

    with_rel: int = 0
    top1_rel: int = 0
    top1_close: int = 0
    top1_family: int = 0
    top1_family_right: int = 0
    hits3: int = 0
    hits5: int = 0
    cap3: int = 0
    cap5: int = 0
    all_rel: int = 0
    returned3: int = 0
    returned5: int = 0
    fam_labelled: int = 0
    fam_labelled_right: int = 0
    fam_true_in_top5: int = 0
    fam_true_labelled: int = 0
    sib_pairs: int = 0
    sib_merged: int = 0
    by_relation: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    by_declared: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def labels(self, result: KinResult, relatives: dict[str, str]) -> None:
        """The family label in the top 5, and siblings taken for the person's own face."""
        for r in result.relations[:5]:
            if r.relation == "family":
                self.fam_labelled += 1
                self.fam_labelled_right += r.account in relatives
            if r.account in relatives:
                self.fam_true_in_top5 += 1
                self.fam_true_labelled += r.relation == "family"
        same = {s.account for s in result.same_face_accounts}
        for other, kind in relatives.items():
            if kind == "sibling":
                self.sib_pairs += 1
                self.sib_merged += other in same

    def ranking(self, account: str, result: KinResult, truth: Truth) -> None:
        """The first candidate and the top 3 / top 5 of an account with relatives."""
        relatives = truth.relatives[account]
        ranked = [r.account for r in result.relations]
        self.with_rel += 1
        said = truth.declared.get(account, set())
        group = "relative" if said & set(relatives) else "noise only" if said else "none"
        self.by_declared[group][1] += 1
        self.by_declared[group][0] += bool(ranked) and ranked[0] in relatives
        if ranked:
            friends = truth.friends.get(account, set())
            first = result.relations[0]
            self.top1_rel += ranked[0] in relatives
            self.top1_close += ranked[0] in relatives or ranked[0] in friends
            self.top1_family += first.relation == "family"
            self.top1_family_right += first.relation == "family" and ranked[0] in relatives
        self.hits3 += sum(1 for a in ranked[:3] if a in relatives)
        self.hits5 += sum(1 for a in ranked[:5] if a in relatives)
        self.cap3 += min(3, len(relatives))
        self.cap5 += min(5, len(relatives))
        self.all_rel += len(relatives)
        self.returned3 += len(ranked[:3])
        self.returned5 += len(ranked[:5])
        for other, kind in relatives.items():
            self.by_relation[kind][1] += 1
            self.by_relation[kind][0] += other in ranked[:5]


def _latency(latencies: list[float]) -> dict[str, float]:
    latencies = sorted(latencies)
    if not latencies:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    return {
        "mean": round(statistics.fmean(latencies), 1),
        "p50": round(latencies[len(latencies) // 2], 1),
        "p95": round(latencies[int(len(latencies) * 0.95)], 1),
        "max": round(latencies[-1], 1),
    }


def evaluate(
    service: KinService,
    root: Path,
    source: str | None = None,
    *,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> KinEvaluation:
    """Run the kin engine on every account of an ingested sample gallery and score it."""
    truth = load_truth(root)
    source_name = source or root.resolve().name
    source_id, accounts = _ingested_accounts(service, root, truth, source_name)
    if limit:
        accounts = accounts[:limit]
    t = _Tally()
    latencies, failures = _run(service, accounts, source_name, truth, t, progress)
    owner_acc, detection, merges = _face_checks(service, source_id, truth)
    return KinEvaluation(
        source=source_name,
        gallery=truth.params,
        accounts_evaluated=len(latencies),
        accounts_with_relatives=t.with_rel,
        top1_relative=_ratio(t.top1_rel, t.with_rel),
        top1_relative_or_friend=_ratio(t.top1_close, t.with_rel),
        top1_relative_by_declared={
            k: {"accounts": float(n), "top1_relative": _ratio(h, n)}
            for k, (h, n) in sorted(t.by_declared.items())
        },
        top1_labelled_family=_ratio(t.top1_family, t.with_rel),
        top1_family_label_correct=_ratio(t.top1_family_right, t.top1_family),
        precision_at_3=_ratio(t.hits3, t.returned3),
        precision_at_5=_ratio(t.hits5, t.returned5),
        recall_at_3=_ratio(t.hits3, t.cap3),
        recall_at_5=_ratio(t.hits5, t.cap5),
        recall_at_5_uncapped=_ratio(t.hits5, t.all_rel),
        recall_at_5_by_relation={k: _ratio(h, n) for k, (h, n) in sorted(t.by_relation.items())},
        family_label_precision_top5=_ratio(t.fam_labelled_right, t.fam_labelled),
        family_label_recall_top5=_ratio(t.fam_true_labelled, t.fam_true_in_top5),
        owner_resolution_accuracy=owner_acc,
        face_detection_recall=detection,
        merged_into_owner=merges,
        sibling_search_merges={
            "sibling_pairs": t.sib_pairs,
            "merged": t.sib_merged,
            "rate": _ratio(t.sib_merged, t.sib_pairs),
        },
        latency_ms=_latency(latencies),
        declared_links_used=service.declared,
        failures=failures[:20],
    )


def _run(
    service: KinService,
    accounts: list[str],
    source_name: str,
    truth: Truth,
    t: _Tally,
    progress: Callable[[int], None] | None,
) -> tuple[list[float], list[str]]:
    """Query every account, tallying into ``t``; the latencies (ms) and the failures."""
    latencies: list[float] = []
    failures: list[str] = []
    for account in accounts:
        started = time.perf_counter()
        try:
            result = service.kin(account, source=source_name, top=5)
        except (NotFound, InputError) as exc:
            failures.append(f"{account}: {exc}")
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        if progress:
            progress(1)
        t.labels(result, truth.relatives.get(account, {}))
        if truth.relatives.get(account):
            t.ranking(account, result, truth)
    return latencies, failures
