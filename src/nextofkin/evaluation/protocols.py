"""Reading the evaluation protocol files: LFW pair lists and the open-set 1:N protocol JSON.

LFW pair files (``pairs.txt``, ``pairsDevTrain.txt``, ``pairsDevTest.txt``) start with a header:
either ``FOLDS N`` (then each fold is N same-person lines ``name i j`` followed by N
different-person lines ``name1 i name2 j``) or a single ``N`` (one fold of N + N lines). Images live
at ``images/<name>/<name>_<iiii>.jpg``.

``protocol-1n.json`` holds ``gallery`` (accounts with their photos), ``mated_probes`` (a photo and
the account it must find) and ``nonmated_probes`` (photos whose person has no account), with paths
relative to the protocol file's folder. A probe may name its person with ``identity`` (a non-mated
probe is then ``{"photo": ..., "identity": ...}`` instead of a bare path). The identity splits
probes into a tuning half and a reporting half; without it a mated probe's person is its account and
a non-mated probe is its own person (split by probe), never guessed from the photo's folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nextofkin.errors import InputError
from nextofkin.i18n import _


@dataclass(frozen=True)
class Pair:
    """One verification pair: two image paths, whether they show the same person, its fold."""

    left: Path
    right: Path
    same: bool
    fold: int


def lfw_image(images: Path, name: str, number: int) -> Path:
    """The path LFW gives image ``number`` of person ``name`` under ``images``."""
    return images / name / f"{name}_{number:04d}.jpg"


def read_pairs(path: Path, images: Path) -> list[Pair]:
    """Every pair of an LFW pairs file, with image paths resolved under ``images``.

    Raises :class:`InputError` with the line number when a line does not fit the format.
    """
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except OSError as exc:
        raise InputError(_("cannot read pairs file %(path)s: %(exc)s", path=path, exc=exc)) from exc
    lines = [ln for ln in lines if ln]
    if not lines:
        raise InputError(_("%(path)s: empty pairs file", path=path))
    folds, per_class = _pairs_header(path, lines[0])
    body = lines[1:]
    if len(body) != folds * 2 * per_class:
        raise InputError(
            _(
                "%(path)s: header promises %(value)s pairs, file has %(n_body)s lines",
                path=path,
                value=folds * 2 * per_class,
                n_body=len(body),
            )
        )
    pairs: list[Pair] = []
    for i, line in enumerate(body):
        try:
            pairs.append(_pair_line(images, line.split(), fold=i // (2 * per_class)))
        except ValueError:
            raise InputError(
                _(
                    "%(path)s:%(value)s: not a pair line: %(line)r",
                    path=path,
                    value=i + 2,
                    line=line,
                )
            ) from None
    return pairs


def _pairs_header(path: Path, first: str) -> tuple[int, int]:
    """(folds, pairs per class and fold) from a pairs file's header, ``FOLDS N`` or ``N``."""
    header = first.split()
    try:
        if len(header) == 2:
            return int(header[0]), int(header[1])
        if len(header) == 1:
            return 1, int(header[0])
        raise ValueError
    except ValueError:
        raise InputError(
            _(
                "%(path)s:1: header must be 'FOLDS N' or 'N', got %(lines)r",
                path=path,
                lines=first,
            )
        ) from None


def _pair_line(images: Path, parts: list[str], fold: int) -> Pair:
    """A same-person line (``name a b``) or a different-person one (``n1 a n2 b``)."""
    if len(parts) == 3:
        name, a, b = parts
        return Pair(lfw_image(images, name, int(a)), lfw_image(images, name, int(b)), True, fold)
    if len(parts) == 4:
        n1, a, n2, b = parts
        return Pair(lfw_image(images, n1, int(a)), lfw_image(images, n2, int(b)), False, fold)
    raise ValueError


@dataclass(frozen=True)
class GalleryAccount:
    """One enrolled account of a 1:N protocol."""

    account: str
    photos: list[Path]


@dataclass(frozen=True)
class Probe:
    """One 1:N search photo: ``mate`` is the account it must find, ``None`` for non-mated.

    ``identity`` is the person shown, used to split probes by identity so that thresholds are never
    tuned on the people a figure is reported on: the protocol's ``identity`` when it names one,
    else ``account:<mate>`` for a mated probe and ``probe:<photo>`` for a non-mated one.
    """

    photo: Path
    mate: str | None
    identity: str


@dataclass(frozen=True)
class OneToNProtocol:
    """A fixed open-set identification protocol."""

    name: str
    description: str
    root: Path
    gallery: list[GalleryAccount]
    probes: list[Probe]

    @property
    def mated(self) -> list[Probe]:
        """The probes that have an enrolled mate."""
        return [p for p in self.probes if p.mate is not None]

    @property
    def nonmated(self) -> list[Probe]:
        """The probes whose person has no account."""
        return [p for p in self.probes if p.mate is None]

    def all_photos(self) -> list[Path]:
        """Every distinct image the protocol uses (gallery first), in a stable order."""
        seen: dict[Path, None] = {}
        for acc in self.gallery:
            for p in acc.photos:
                seen.setdefault(p, None)
        for probe in self.probes:
            seen.setdefault(probe.photo, None)
        return list(seen)


def read_protocol(path: Path) -> OneToNProtocol:
    """Read a ``protocol-1n.json`` file; photo paths are resolved against its folder."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(_("cannot read protocol %(path)s: %(exc)s", path=path, exc=exc)) from exc
    root = path.resolve().parent
    try:
        gallery = [
            GalleryAccount(str(a["account"]), [root / str(p) for p in a["photos"]])
            for a in data["gallery"]
        ]
        probes = [_mated(root, p) for p in data["mated_probes"]]
        probes += [_nonmated(root, p) for p in data["nonmated_probes"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            _("%(path)s: not a 1:N protocol file (%(exc)r missing or wrong)", path=path, exc=exc)
        ) from exc
    return OneToNProtocol(
        name=str(data.get("name", path.stem)),
        description=str(data.get("description", "")),
        root=root,
        gallery=gallery,
        probes=probes,
    )


def _mated(root: Path, entry: dict[str, object]) -> Probe:
    account = str(entry["account"])
    named = entry.get("identity")
    return Probe(
        root / str(entry["photo"]),
        account,
        f"identity:{named}" if named is not None else f"account:{account}",
    )


def _nonmated(root: Path, entry: str | dict[str, object]) -> Probe:
    # A folder shared by every stranger (or by none) says nothing about who is shown: without a
    # named identity, each non-mated photo is its own person.
    if isinstance(entry, str):
        return Probe(root / entry, None, f"probe:{entry}")
    named = entry.get("identity")
    photo = str(entry["photo"])
    return Probe(root / photo, None, f"identity:{named}" if named is not None else f"probe:{photo}")


def names_identities(probes: list[Probe]) -> bool:
    """Whether every probe's identity was named by the protocol (else the split is partly by
    account and probe)."""
    return bool(probes) and all(p.identity.startswith("identity:") for p in probes)


def split_by_identity(probes: list[Probe]) -> tuple[list[Probe], list[Probe]]:
    """Split probes into two halves with disjoint identities: (even-indexed, odd-indexed).

    Identities are sorted by name and alternate between the halves, so the split is fixed and
    reproducible. The project tunes on the even half and reports on the odd one.
    """
    names = sorted({p.identity for p in probes})
    even = {n for i, n in enumerate(names) if i % 2 == 0}
    return [p for p in probes if p.identity in even], [p for p in probes if p.identity not in even]
