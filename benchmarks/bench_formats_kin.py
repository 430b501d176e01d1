"""The same sample gallery in each export layout: identify's accounts and kin's first relatives.

Writes one sample gallery (``nextofkin sample-gallery``: declared relatives and positioned tags
included) in the native manifest layout, ingests it into a workspace of its own, and measures

- identify: for each probe (a face-set photo of an account holder that the gallery does not use),
  the first candidate account, and whether it is the holder's;
- kin: for each account with a relative that has an account, the first candidate, and whether it
  is a true relative, with the declared links used and ignored (``KinService(declared=False)``).

Each further layout (``--formats``) is written from the same gallery, ingested into its own
workspace, and compared with the native one: the share of probes whose first account is the same
account, the share of accounts whose first relative is the same account, and the difference of
the first-candidate figure in points (the goal: within 1 point). Most tools' exports carry less
than the manifest (no friend lists, no declared relatives, no city): each is also compared with
the native layout reduced to what that tool carries (``native-as-<tool>``, see ``CARRIES``), which
separates the tool's losses from the importer's.

    python benchmarks/bench_formats_kin.py --faces ../shared/datasets/lfw/images \\
        --out /tmp/bench_formats_kin --seed 3 --accounts 150 --density 0.5 -j 2 [--probes 60]

Prints a table and writes ``OUT/formats_kin.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import lzma
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nextofkin.gallery.tags import Tag, parse_tags

REPO = Path(__file__).resolve().parents[1]

log = logging.getLogger("bench_formats_kin")

# Layout name -> writer (gallery root, truth, destination) returning external id -> sample id.
Writer = Callable[[Path, dict[str, Any], Path], dict[str, str]]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _link(src: Path, dst: Path) -> None:
    """The same bytes at ``dst`` (a hard link where the file system allows)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _timestamp(iso: str | None) -> int | None:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()) if iso else None


def _numeric_ids(accounts: list[dict[str, Any]]) -> dict[str, str]:
    """Sample account -> a platform's numeric user id (``id123`` handles keep their number)."""
    out: dict[str, str] = {}
    for row in accounts:
        account = row["account"]
        if account.startswith("id") and account[2:].isdigit():
            out[account] = account[2:]
        else:
            digest = hashlib.sha256(account.encode()).hexdigest()
            out[account] = str(10**9 + int(digest[:12], 16) % 10**9)
    return out


def write_vk_api(gallery: Path, truth: dict[str, Any], out: Path) -> dict[str, str]:
    """The gallery as the VK API returns it (the layout of importers/vk_api.py): users.get with
    relatives and relation_partner, friends.get, photos.getAll, photos.getTags boxes in percent."""
    accounts = _jsonl(gallery / "accounts.jsonl")
    photos = _jsonl(gallery / "photos.jsonl")
    vk = _numeric_ids(accounts)
    sizes = {p["path"]: (p["width"], p["height"]) for p in truth["photos"]}
    users = []
    for row in accounts:
        first, _, last = (row.get("name") or "").partition(" ")
        user: dict[str, Any] = {"id": int(vk[row["account"]]), "first_name": first,
                                "last_name": last, "domain": row["account"]}  # fmt: skip
        if row.get("city"):
            user["city"] = {"id": 1, "title": row["city"]}
        if row["contacts"].get("phone"):
            user["mobile_phone"] = row["contacts"]["phone"]
        relatives = []
        for rel in row.get("relatives", ()):
            other = int(vk.get(rel["account"], rel["account"].removeprefix("id")))
            if rel["type"] == "partner":
                user["relation"], user["relation_partner"] = 4, {"id": other}
            else:
                relatives.append({"id": other, "type": rel["type"]})
        if relatives:
            user["relatives"] = relatives
        users.append(user)
        friends = [int(vk.get(f, f.removeprefix("id"))) for f in row.get("friends", ())]
        _dump(out / "friends" / f"{vk[row['account']]}.json",
              {"response": {"count": len(friends), "items": friends}})  # fmt: skip
    _dump(out / "users.json", {"response": users})
    by_owner: dict[str, list[dict[str, Any]]] = {}
    for number, photo in enumerate(photos, start=1):
        owner = vk[photo["account"]]
        key = f"{owner}_{number}"
        _link(gallery / photo["path"], out / "images" / f"{key}.jpg")
        item = {"id": number, "owner_id": int(owner), "album_id": -6 if photo.get("kind") ==
                "profile" else 1, "date": _timestamp(photo.get("posted_at")),
                "text": photo.get("caption", "")}  # fmt: skip
        by_owner.setdefault(owner, []).append(item)
        width, height = sizes[photo["path"]]
        tags: list[dict[str, Any]] = []
        for tag in parse_tags(photo.get("tagged")):
            entry: dict[str, Any] = {"user_id": int(vk.get(tag.account, "0")), "id": len(tags) + 1}
            if tag.point is not None:  # VK knows rectangles only: a small one around the point
                x, y = 100 * tag.point[0], 100 * tag.point[1]
                entry |= {"x": max(0, x - 3), "y": max(0, y - 3), "x2": min(100, x + 3),
                          "y2": min(100, y + 3)}  # fmt: skip
            elif tag.box is not None:
                left, top, right, bottom = tag.box
                entry |= {"x": 100 * left / width, "y": 100 * top / height,
                          "x2": 100 * right / width, "y2": 100 * bottom / height}  # fmt: skip
            tags.append(entry)
        if tags:
            _dump(out / "tags" / f"{key}.json", {"response": tags})
    for owner, items in by_owner.items():
        _dump(out / "photos" / f"{owner}.json", {"response": {"count": len(items), "items": items}})
    return {number: account for account, number in vk.items()}


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _point(tag: Tag, width: int, height: int) -> tuple[float, float] | None:
    """A tag's position as a point in 0..1 (a box's centre), for tools that know points only."""
    if tag.point is not None:
        return tag.point
    if tag.box is not None:
        left, top, right, bottom = tag.box
        return (left + right) / 2 / width, (top + bottom) / 2 / height
    return None


def _utc_stem(iso: str | None, taken: set[str]) -> str:
    """instaloader's ``{date_utc}_UTC`` name, made unique as it does for same-second posts."""
    moment = datetime.fromisoformat(iso or "2020-01-01T00:00:00")
    stem = moment.strftime("%Y-%m-%d_%H-%M-%S") + "_UTC"
    while stem in taken:
        moment = moment.replace(second=(moment.second + 1) % 60)
        stem = moment.strftime("%Y-%m-%d_%H-%M-%S") + "_UTC"
    taken.add(stem)
    return stem


def write_instaloader(gallery: Path, truth: dict[str, Any], out: Path) -> dict[str, str]:
    """Profile folders as instaloader writes them (importers/instaloader.py): ``id``, the
    profile's ``<username>_<id>.json.xz``, posts ``<date>_UTC.jpg`` with ``.json.xz`` nodes
    (tagged users with x, y), ``<date>_UTC_profile_pic.jpg``. Instagram has no friend lists,
    relatives, city or contacts: those are lost."""
    accounts = _jsonl(gallery / "accounts.jsonl")
    ig = _numeric_ids(accounts)
    sizes = {p["path"]: (p["width"], p["height"]) for p in truth["photos"]}
    meta = {"version": "4.13", "node_type": "Post"}
    for row in accounts:
        folder = out / row["account"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "id").write_text(ig[row["account"]] + "\n", encoding="utf-8")
        profile = {
            "id": ig[row["account"]],
            "username": row["account"],
            "full_name": row.get("name"),
        }
        _xz(folder / f"{row['account']}_{ig[row['account']]}.json.xz",
            {"node": profile, "instaloader": meta | {"node_type": "Profile"}})  # fmt: skip
    taken: dict[str, set[str]] = {}
    for photo in _jsonl(gallery / "photos.jsonl"):
        account = photo["account"]
        folder = out / account
        stem = _utc_stem(photo.get("posted_at"), taken.setdefault(account, set()))
        if photo.get("kind") == "profile":
            _link(gallery / photo["path"], folder / f"{stem}_profile_pic.jpg")
            continue
        _link(gallery / photo["path"], folder / f"{stem}.jpg")
        width, height = sizes[photo["path"]]
        edges = []
        for tag in parse_tags(photo.get("tagged")):
            user = {"id": ig.get(tag.account), "username": tag.account}
            point = _point(tag, width, height)
            edge = {"user": user} | ({"x": point[0], "y": point[1]} if point else {})
            edges.append({"node": edge})
        node: dict[str, Any] = {
            "owner": {"id": ig[account], "username": account},
            "shortcode": hashlib.sha256(photo["path"].encode()).hexdigest()[:11],
            "taken_at_timestamp": _timestamp(photo.get("posted_at")),
            "edge_media_to_caption": {"edges": [{"node": {"text": photo.get("caption", "")}}]},
            "edge_media_to_tagged_user": {"edges": edges},
        }
        _xz(folder / f"{stem}.json.xz", {"node": node, "instaloader": meta})
    return {number: account for account, number in ig.items()}


def write_telegram(gallery: Path, truth: dict[str, Any], out: Path) -> dict[str, str]:
    """One Telegram Desktop group chat export (importers/telegram.py): every account a sender,
    each photo a message with its caption, each tag a ``mention_name`` entity. Telegram has no
    friend lists, relatives, profile photos, tag positions or city: those are lost."""
    accounts = _jsonl(gallery / "accounts.jsonl")
    tg = _numeric_ids(accounts)
    names = {row["account"]: row.get("name") or row["account"] for row in accounts}
    messages = []
    photos = sorted(_jsonl(gallery / "photos.jsonl"), key=lambda p: p.get("posted_at") or "")
    for number, photo in enumerate(photos, start=1):
        moment = datetime.fromisoformat(photo.get("posted_at") or "2020-01-01T00:00:00")
        name = f"photos/photo_{number}@{moment.strftime('%d-%m-%Y_%H-%M-%S')}.jpg"
        _link(gallery / photo["path"], out / name)
        entities: list[dict[str, Any]] = []
        if photo.get("caption"):
            entities.append({"type": "plain", "text": photo["caption"] + " "})
        for tag in parse_tags(photo.get("tagged")):
            if tag.account in tg:
                entities.append({"type": "mention_name", "text": names[tag.account],
                                 "user_id": int(tg[tag.account])})  # fmt: skip
        messages.append({
            "id": number, "type": "message", "date": moment.strftime("%Y-%m-%dT%H:%M:%S"),
            "date_unixtime": str(_timestamp(photo.get("posted_at"))),
            "from": names[photo["account"]], "from_id": f"user{tg[photo['account']]}",
            "photo": name, "width": 1, "height": 1,
            "text": [e if e["type"] != "plain" else e["text"] for e in entities] or "",
            "text_entities": entities,
        })  # fmt: skip
    chat = {"name": "Family and friends", "type": "private_group", "id": 1}
    _dump(out / "result.json", chat | {"messages": messages})
    return {number: account for account, number in tg.items()}


def write_gallery_dl_vk(gallery: Path, truth: dict[str, Any], out: Path) -> dict[str, str]:
    """gallery-dl's vk extractor with --write-metadata (importers/gallery_dl.py):
    ``gallery-dl/vk/<user>/<file>.jpg`` and ``<file>.jpg.json`` with ``user`` (id, name, nick),
    ``id``, ``date``, ``description``. It writes no tags, friends, relatives or city."""
    accounts = _jsonl(gallery / "accounts.jsonl")
    vk = _numeric_ids(accounts)
    names = {row["account"]: row.get("name") for row in accounts}
    for number, photo in enumerate(_jsonl(gallery / "photos.jsonl"), start=1):
        account = photo["account"]
        file = out / "gallery-dl" / "vk" / account / f"{vk[account]}_{number}.jpg"
        _link(gallery / photo["path"], file)
        meta = {
            "category": "vk", "subcategory": "photos", "id": number,
            "user": {"id": int(vk[account]), "name": account, "nick": names[account],
                     "group": False},
            "date": (photo.get("posted_at") or "2020-01-01T00:00:00").replace("T", " "),
            "description": photo.get("caption", ""), "filename": file.stem, "extension": "jpg",
        }  # fmt: skip
        _dump(file.with_name(file.name + ".json"), meta)
    return {number: account for account, number in vk.items()}


def _xz(path: Path, data: Any) -> None:
    path.write_bytes(lzma.compress(json.dumps(data, ensure_ascii=False).encode("utf-8")))


# What each tool's export carries beyond photos, captions, dates, names and handles.
CARRIES: dict[str, frozenset[str]] = {
    "vk-api": frozenset(
        {"handle", "friends", "relatives", "city", "phone", "tags", "positions", "boxes", "profile"}
    ),
    "instaloader": frozenset({"handle", "tags", "positions", "profile"}),
    "telegram": frozenset({"tags"}),  # a chat export names senders, not their @handles
    "gallery-dl-vk": frozenset({"handle"}),
}


def write_native_subset(gallery: Path, out: Path, carries: frozenset[str]) -> dict[str, str] | None:
    """The native manifest with only what a tool carries: what the tool's export can at best
    give, so that the importer's own losses show apart from the tool's. Without handles, account
    ids are numbers (returned: id -> sample account)."""
    rows = _jsonl(gallery / "accounts.jsonl")
    numbers = _numeric_ids(rows) if "handle" not in carries else {}

    def ref(account: str) -> str:
        return numbers.get(account, account)

    sizes = {
        p["path"]: (p["width"], p["height"])
        for p in json.loads((gallery / "truth.json").read_text(encoding="utf-8"))["photos"]
    }
    accounts: list[dict[str, Any]] = []
    for row in rows:
        kept: dict[str, Any] = {"account": ref(row["account"]), "name": row.get("name")}
        if "handle" in carries:
            kept["url"] = row.get("url")
        if "friends" in carries:
            kept["friends"] = [ref(f) for f in row.get("friends", [])]
        if "relatives" in carries and row.get("relatives"):
            kept["relatives"] = [r | {"account": ref(r["account"])} for r in row["relatives"]]
        if "city" in carries and row.get("city"):
            kept["city"] = row["city"]
        if "phone" in carries and row["contacts"].get("phone"):
            kept["contacts"] = {"phone": row["contacts"]["phone"]}
        if "profile" in carries and row.get("profile_photo"):
            kept["profile_photo"] = row["profile_photo"]
        accounts.append(kept)
    photos: list[dict[str, Any]] = []
    for photo in _jsonl(gallery / "photos.jsonl"):
        _link(gallery / photo["path"], out / photo["path"])
        line: dict[str, Any] = {
            k: photo[k] for k in ("path", "caption", "posted_at") if k in photo
        } | {"account": ref(photo["account"])}
        line["kind"] = photo.get("kind", "post") if "profile" in carries else "post"
        if "tags" in carries:
            tags: list[Any] = []
            for tag in parse_tags(photo.get("tagged")):
                point = _point(tag, *sizes[photo["path"]]) if "positions" in carries else None
                account = ref(tag.account)
                if "boxes" in carries and tag.box is not None:  # VK keeps its rectangles
                    tags.append({"account": account, "box": list(tag.box)})
                    continue
                tags.append({"account": account, "x": point[0], "y": point[1]} if point
                            else account)  # fmt: skip
            if tags:
                line["tagged"] = tags
        photos.append(line)
    _dump_jsonl(out / "accounts.jsonl", accounts)
    _dump_jsonl(out / "photos.jsonl", photos)
    return {number: account for account, number in numbers.items()} or None


def _dump_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")


WRITERS: dict[str, Writer] = {
    "vk-api": write_vk_api,
    "instaloader": write_instaloader,
    "telegram": write_telegram,
    "gallery-dl-vk": write_gallery_dl_vk,
}


@dataclass
class LayoutFigures:
    """What one layout gave."""

    layout: str
    ingest_seconds: float
    accounts: int
    photos_done: int
    faces: int
    identify_first: dict[str, str | None] = field(default_factory=dict)  # probe -> account
    identify_top1: float = 0.0
    kin_first: dict[str, str | None] = field(default_factory=dict)  # account -> first relative
    kin_top1_relative: float = 0.0
    kin_top1_relative_without_declared: float = 0.0
    kin_first_family_label: float = 0.0


def _probes(truth: dict[str, Any], faces: Path, limit: int) -> dict[str, Path]:
    """For up to ``limit`` account holders, a photo of their identity the gallery does not use."""
    used = {f["source"] for p in truth["photos"] for f in p["faces"]}
    out: dict[str, Path] = {}
    for account, pid in sorted(truth["accounts"].items()):
        identity = truth["people"][pid]["identity"]
        spare = sorted(
            p for p in (faces / identity).iterdir() if str(p) not in used and p.suffix == ".jpg"
        )
        if spare:
            out[account] = spare[0]
        if len(out) >= limit:
            break
    return out


def _relatives(truth: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in truth["relations"]:
        a, b = r["a_account"], r["b_account"]
        if r["type"] != "friend" and a and b:
            out.setdefault(a, set()).add(b)
            out.setdefault(b, set()).add(a)
    return out


def measure(
    layout: str,
    root: Path,
    home: Path,
    truth: dict[str, Any],
    probes: dict[str, Path],
    to_sample: dict[str, str] | None,
    workers: int,
) -> LayoutFigures:
    """Ingest ``root`` into a new workspace at ``home`` and measure identify and kin there."""
    from sqlalchemy import func, select

    from nextofkin.gallery.records import Account, Face, Photo, PhotoStatus
    from nextofkin.identify.derived import ingest
    from nextofkin.identify.service import IdentifyService
    from nextofkin.kin.engine import KinService
    from nextofkin.settings import Settings
    from nextofkin.workspace import Workspace

    ws = Workspace.open(Settings.load(home))
    try:
        started = time.perf_counter()
        ingest(ws, root, workers=workers)
        seconds = time.perf_counter() - started
        with ws.session() as session:
            ids = {r[0]: r[1] for r in session.execute(select(Account.external_id, Account.id))}
            photos_done = session.scalar(
                select(func.count(Photo.id)).where(Photo.status == PhotoStatus.DONE)
            )
            n_faces = session.scalar(select(func.count(Face.id)))
        sample_of = to_sample or {ext: ext for ext in ids}
        external_of = {sample: ext for ext, sample in sample_of.items()}
        figures = LayoutFigures(layout, round(seconds, 1), len(ids), photos_done or 0, n_faces or 0)

        identify = IdentifyService(ws)
        right = 0
        for account, probe in probes.items():
            result = identify.identify([probe], top=1)
            first = result.candidates[0].account if result.candidates else None
            mapped = sample_of.get(first) if first is not None else None
            figures.identify_first[account] = mapped
            right += mapped == account
        figures.identify_top1 = round(right / max(1, len(probes)), 4)

        relatives = _relatives(truth)
        for declared in (True, False):
            service = KinService(ws, declared=declared)
            hits = family = evaluated = 0
            for account in sorted(relatives):
                ext = external_of.get(account)
                if ext is None or ext not in ids:
                    continue
                evaluated += 1
                found = service.kin(ext, top=1)
                top = found.relations[0] if found.relations else None
                first = sample_of.get(top.account) if top is not None else None
                hits += first in relatives[account]
                family += top is not None and top.relation == "family"
                if declared:
                    figures.kin_first[account] = first
            share = round(hits / max(1, evaluated), 4)
            if declared:
                figures.kin_top1_relative = share
                figures.kin_first_family_label = round(family / max(1, evaluated), 4)
            else:
                figures.kin_top1_relative_without_declared = share
        return figures
    finally:
        ws.close()


def agreement(native: LayoutFigures, other: LayoutFigures) -> dict[str, float]:
    """How far ``other`` is from the native layout."""
    probes = native.identify_first
    same_identify = sum(other.identify_first.get(p) == a for p, a in probes.items())
    firsts = native.kin_first
    same_kin = sum(other.kin_first.get(a) == f for a, f in firsts.items())
    return {
        "identify_same_first_account": round(same_identify / max(1, len(probes)), 4),
        "kin_same_first_relative": round(same_kin / max(1, len(firsts)), 4),
        "identify_top1_points": round(100 * (other.identify_top1 - native.identify_top1), 2),
        "kin_top1_relative_points": round(
            100 * (other.kin_top1_relative - native.kin_top1_relative), 2
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=REPO.parent / "shared/datasets/lfw/images")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--accounts", type=int, default=150)
    parser.add_argument("--density", type=float, default=0.5)
    parser.add_argument("--probes", type=int, default=60)
    parser.add_argument("--jobs", "-j", type=int, default=2)
    parser.add_argument(
        "--formats", default="all", help="comma-separated layouts besides native, or 'all'/'none'"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from nextofkin.kin.sample.generate import TRUTH_FILE, generate

    gallery = args.out / "gallery"
    if not (gallery / TRUTH_FILE).exists():
        generate(
            args.faces, gallery, args.seed, args.accounts, workers=args.jobs, density=args.density
        )
    truth = json.loads((gallery / TRUTH_FILE).read_text(encoding="utf-8"))
    probes = _probes(truth, args.faces, args.probes)
    results: dict[str, Any] = {"seed": args.seed, "accounts": args.accounts, "probes": len(probes)}
    native = measure("native", gallery, args.out / "ws-native", truth, probes, None, args.jobs)
    results["native"] = asdict(native)
    wanted = (
        list(WRITERS)
        if args.formats == "all"
        else []
        if args.formats == "none"
        else args.formats.split(",")
    )
    rows = [native]
    for layout in wanted:
        root = args.out / layout
        if not root.exists():
            mapping = WRITERS[layout](gallery, truth, root)
            (args.out / f"{layout}.ids.json").write_text(json.dumps(mapping), encoding="utf-8")
        mapping = json.loads((args.out / f"{layout}.ids.json").read_text(encoding="utf-8"))
        figures = measure(
            layout, root, args.out / f"ws-{layout}", truth, probes, mapping, args.jobs
        )
        # The native layout with only what this tool carries: the importer's own losses.
        subset_root = args.out / f"native-as-{layout}"
        ids_file = args.out / f"native-as-{layout}.ids.json"
        if not subset_root.exists():
            numbers = write_native_subset(gallery, subset_root, CARRIES[layout])
            ids_file.write_text(json.dumps(numbers), encoding="utf-8")
        subset = measure(
            f"native-as-{layout}", subset_root, args.out / f"ws-native-as-{layout}", truth,
            probes, json.loads(ids_file.read_text(encoding="utf-8")), args.jobs,
        )  # fmt: skip
        results[subset.layout] = asdict(subset)
        results[layout] = asdict(figures) | {
            "against_native": agreement(native, figures),
            "against_native_subset": agreement(subset, figures),
        }
        rows += [subset, figures]
    (args.out / "formats_kin.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"seed {args.seed}, {args.accounts} accounts, {len(probes)} probes")
    print("layout | ingest s | photos | faces | identify top-1 | kin top-1 relative "
          "(declared / ignored) | same first account / relative as native | ... as the native "
          "subset, kin points")  # fmt: skip
    for row in rows:
        vs = results[row.layout].get("against_native", {})
        sub = results[row.layout].get("against_native_subset", {})
        print(
            f"{row.layout} | {row.ingest_seconds} | {row.photos_done} | {row.faces} | "
            f"{row.identify_top1:.1%} | {row.kin_top1_relative:.1%} / "
            f"{row.kin_top1_relative_without_declared:.1%} | "
            + (
                f"{vs['identify_same_first_account']:.1%} / {vs['kin_same_first_relative']:.1%}"
                if vs
                else "-"
            )
            + (
                f" | {sub['identify_same_first_account']:.1%} / "
                f"{sub['kin_same_first_relative']:.1%}, {sub['kin_top1_relative_points']:+.1f}"
                if sub
                else ""
            )
        )


if __name__ == "__main__":
    main()
