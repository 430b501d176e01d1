"""Families' inquiries matched to bodies through the product, beside face_recognition's way.

From LFW's fixed 1:N protocol (``protocol-1n.json``):

* a gallery of accounts that are neither bodies nor missing persons is ingested with
  ``nextofkin ingest``; its leave-one-out calibration gives the default thresholds (nothing is
  tuned on the pairs below);
* *cases* are opened from the enrolled photo of ``--cases`` identities (the body), plus
  ``--extra-cases`` bodies nobody asks about;
* an *inquiry* is filed for each case's person with another photo of them (a mated probe: what the
  family has), plus ``--strangers`` inquiries for people without a case (non-mated identities);
* one sweep (``inquiries.matching.match``) analyses every photo with the product's pipeline and
  proposes links.

Reported: the share of inquiries whose person has a case that get a link to that case (any
decision, and ``match`` only), whether it is their best link, and false links per 1,000 inquiries
(links to another person's case), for all inquiries and for the strangers alone. The peer is how
a team scripts this with ``face_recognition``: its HOG detector and encoder on the same photos,
and ``compare_faces`` (distance <= 0.6) of each inquiry against every case. Timings are single runs
on a machine shared with other work.

Usage::

    python benchmarks/bench_inquiries.py [--lfw DIR] [--work DIR] [--cases 200] [--strangers 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LFW = REPO.parent / "shared" / "datasets" / "lfw"


def pick(protocol: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Disjoint identities for the gallery, the bodies with inquiries, other bodies, strangers."""
    rng = random.Random(args.seed)
    mated: dict[str, str] = {}
    for probe in protocol["mated_probes"]:
        mated.setdefault(probe["account"], probe["photo"])
    enrolled = {a["account"]: a["photos"][0] for a in protocol["gallery"]}
    with_inquiry = rng.sample(sorted(mated), args.cases)
    rest = sorted(set(enrolled) - set(with_inquiry))
    rng.shuffle(rest)
    extra = rest[: args.extra_cases]
    gallery = rest[args.extra_cases : args.extra_cases + args.gallery]
    strangers_by_id: dict[str, str] = {}
    for photo in protocol["nonmated_probes"]:
        strangers_by_id.setdefault(Path(photo).parent.name, photo)
    strangers = rng.sample(sorted(strangers_by_id), args.strangers)
    return {
        "cases": [(p, enrolled[p]) for p in with_inquiry + extra],
        "inquiries": [(p, mated[p]) for p in with_inquiry]
        + [(p, strangers_by_id[p]) for p in strangers],
        "gallery": [(p, enrolled[p]) for p in gallery],
    }


def build_gallery(chosen: list[tuple[str, str]], lfw: Path, root: Path) -> None:
    """One folder per gallery account (hard links where possible)."""
    if root.exists():
        shutil.rmtree(root)
    for account, rel in chosen:
        folder = root / account
        folder.mkdir(parents=True)
        try:
            os.link(lfw / rel, folder / Path(rel).name)
        except OSError:
            shutil.copyfile(lfw / rel, folder / Path(rel).name)


def run_ours(plan: dict[str, Any], lfw: Path, home: Path) -> dict[str, Any]:
    """Cases, inquiries and one sweep through the product; links by (person, case person)."""
    from sqlalchemy import select

    from nextofkin.cases.inquiry_records import InquiryLink
    from nextofkin.cases.records import Case
    from nextofkin.cases.service import open_case
    from nextofkin.inquiries import matching
    from nextofkin.inquiries.service import Inquirer, MissingPerson, file_inquiry
    from nextofkin.settings import Settings
    from nextofkin.users.service import add_user
    from nextofkin.workspace import Workspace

    ws = Workspace.open(Settings.load(home))
    with ws.session() as s:
        add_user(s, None, "ada", "admin")
        add_user(s, "ada", "ivan", "investigator")
        add_user(s, "ada", "ina", "intake")
    inquiry_person: dict[int, str] = {}
    with ws.session() as s:
        for person, rel in plan["cases"]:
            open_case(s, ws, "ivan", f"K-{person}", [lfw / rel])
        for person, rel in plan["inquiries"]:
            family = Inquirer("family", "mother", "family@example.org", None, True, "bench")
            inquiry_id = file_inquiry(s, ws, "ina", MissingPerson(person), family, [lfw / rel])
            inquiry_person[inquiry_id] = person
    started = time.perf_counter()
    report = matching.match(ws, "ivan")
    seconds = time.perf_counter() - started
    links: dict[str, list[tuple[str, float, str]]] = {}
    with ws.session() as s:
        rows = s.execute(
            select(InquiryLink.inquiry_id, Case.number, InquiryLink.score, InquiryLink.decision)
            .join(Case, Case.id == InquiryLink.case_id)
            .order_by(InquiryLink.score.desc())
        ).all()
        evidence = s.scalars(select(InquiryLink.evidence).limit(1)).first()
    for inquiry_id, number, score, decision in rows:
        links.setdefault(inquiry_person[inquiry_id], []).append(
            (number.removeprefix("K-"), score, decision)
        )
    ws.close()
    return {
        "links": links,
        "seconds": seconds,
        "photos": report.inquiry_photos_analysed + report.case_photos_analysed,
        "faces": [report.inquiries, report.cases],
        "calibration": (evidence or {}).get("calibration"),
    }


def run_peer(plan: dict[str, Any], lfw: Path) -> dict[str, Any]:
    """face_recognition: HOG (upsample 1), encode the first face, compare_faces at 0.6."""
    import face_recognition

    def encode(rel: str) -> np.ndarray | None:
        image = face_recognition.load_image_file(str(lfw / rel))
        boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1)
        found = face_recognition.face_encodings(image, boxes[:1])
        return found[0] if found else None

    started = time.perf_counter()
    cases = [(p, encode(rel)) for p, rel in plan["cases"]]
    known = [(p, e) for p, e in cases if e is not None]
    matrix = np.stack([e for _, e in known])
    links: dict[str, list[tuple[str, float, str]]] = {}
    no_face = len(cases) - len(known)
    for person, rel in plan["inquiries"]:
        vector = encode(rel)
        if vector is None:
            no_face += 1
            continue
        distances = face_recognition.face_distance(matrix, vector)
        hits = face_recognition.compare_faces(matrix, vector, tolerance=0.6)
        found = [(known[i][0], float(distances[i]), "match") for i in np.flatnonzero(hits)]
        links[person] = sorted(found, key=lambda h: h[1])
    return {"links": links, "seconds": time.perf_counter() - started, "no_face": no_face}


def score(plan: dict[str, Any], links: dict[str, list[tuple[str, float, str]]]) -> dict[str, Any]:
    """Recall for inquiries whose person has a case, and false links per 1,000 inquiries."""
    with_case = {p for p, _ in plan["cases"]}
    asked = [p for p, _ in plan["inquiries"]]
    mated = [p for p in asked if p in with_case]
    strangers = [p for p in asked if p not in with_case]
    found = [p for p in mated if any(c == p for c, _, _ in links.get(p, []))]
    found_match = [p for p in mated if any(c == p and d == "match" for c, _, d in links.get(p, []))]
    top = [p for p in mated if links.get(p) and links[p][0][0] == p]
    false = sum(1 for p in asked for c, _, _ in links.get(p, []) if c != p)
    false_strangers = sum(len(links.get(p, [])) for p in strangers)
    false_match = sum(1 for p in asked for c, _, d in links.get(p, []) if c != p and d == "match")
    return {
        "inquiries": len(asked),
        "with_case": len(mated),
        "linked": len(found),
        "linked_rate": len(found) / max(len(mated), 1),
        "linked_as_match_rate": len(found_match) / max(len(mated), 1),
        "best_link_right_rate": len(top) / max(len(mated), 1),
        "false_links": false,
        "false_links_per_1000": 1000 * false / max(len(asked), 1),
        "stranger_false_links_per_1000": 1000 * false_strangers / max(len(strangers), 1),
        "false_match_links_per_1000": 1000 * false_match / max(len(asked), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-inquiries"))
    parser.add_argument("--cases", type=int, default=200, help="bodies whose family asks")
    parser.add_argument("--extra-cases", type=int, default=100, help="bodies nobody asks about")
    parser.add_argument("--strangers", type=int, default=200, help="inquiries with no body")
    parser.add_argument("--gallery", type=int, default=400, help="accounts for calibration")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    protocol = json.loads((args.lfw / "protocol-1n.json").read_text())
    plan = pick(protocol, args)
    if args.work.exists():
        shutil.rmtree(args.work)
    home = args.work / "workspace"
    build_gallery(plan["gallery"], args.lfw, args.work / "gallery")
    env = {**os.environ, "NEXTOFKIN_HOME": str(home)}
    command = [sys.executable, "-m", "nextofkin", "ingest", str(args.work / "gallery")]
    subprocess.run([*command, "--workers", "1"], check=True, env=env, capture_output=True)
    ours = run_ours(plan, args.lfw, home)
    ours_score = score(plan, ours["links"])
    out: dict[str, Any] = {
        "plan": {k: len(v) for k, v in plan.items()},
        "ours": {**ours_score, "calibration": ours["calibration"]},
        "ours_sweep_seconds": round(ours["seconds"], 1),
        "ours_photos_analysed": ours["photos"],
        "ours_with_face": ours["faces"],
    }
    if not args.no_peer:
        peer = run_peer(plan, args.lfw)
        out["peer"] = score(plan, peer["links"])
        out["peer_seconds"] = round(peer["seconds"], 1)
        out["peer_no_face"] = peer["no_face"]
        ours_false = max(ours_score["false_links_per_1000"], 1e-9)
        out["ratio_false_links_peer_over_ours"] = round(
            out["peer"]["false_links_per_1000"] / ours_false, 2
        )
        out["ratio_linked_ours_over_peer"] = round(
            ours_score["linked_rate"] / max(out["peer"]["linked_rate"], 1e-9), 3
        )
    out["timing_note"] = "one run each, on a machine shared with other helpers"
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
