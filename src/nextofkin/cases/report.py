"""The case report: everything a team must be able to show about one case, as HTML or PDF.

Probe photos with their custody hashes, each search's candidates with the probe face and the
candidate's best gallery face side by side, what every score means, the reviewers' decisions,
kin findings when the kin engine recorded any, the messages sent, and the case's audit trail with
the state of the hash chain. Pictures are embedded, so the file stands alone. Faces that were
purged from the gallery are not shown.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.alerts import AlertInfo, list_alerts
from nextofkin.cases.inquiry_records import InquiryLink
from nextofkin.cases.labels import message_state_label, state_label, verdict_label
from nextofkin.cases.media import clean_photo, face_crop, jpeg_bytes
from nextofkin.cases.service import CaseInfo, get_case, verify_custody, view_case
from nextofkin.errors import ImageError, InputError, NextOfKinError
from nextofkin.gallery.labels import face_role_label
from nextofkin.gallery.records import Face
from nextofkin.i18n import current_language, format_datetime, gettext, install_jinja, use_language
from nextofkin.identify.meaning import decision_explanation, decision_label, stored_meaning
from nextofkin.identify.results import Evidence
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class CandidateView:
    """One candidate row of the report."""

    rank: int
    ref: str
    name: str | None
    url: str | None
    score: float
    similarity: float | None  # cosine, when the score is normalised
    margin: float | None  # score minus the best other account's
    decision: str
    meaning: str
    decision_text: str
    probe_face: str | None
    gallery_face: str | None
    evidence: list[Evidence]
    verdicts: list[str]


@dataclass
class SearchView:
    """One search section of the report."""

    id: int
    run_by: str
    run_at: datetime
    model: str | None
    gallery_size: int | None
    calibration: dict[str, Any]
    candidates: list[CandidateView] = field(default_factory=list)


@dataclass(frozen=True)
class InquiryLinkRow:
    """A link of the case to a family's missing-person inquiry, as the report lists it."""

    inquiry: int
    state: str
    score: float
    decision: str
    meaning: str
    reviewers: str


@dataclass
class ReportData:
    """Everything the report template shows."""

    case: CaseInfo
    generated_at: datetime
    generated_by: str
    photos: list[dict[str, Any]]
    searches: list[SearchView]
    messages: list[dict[str, Any]]
    kin: list[dict[str, Any]]
    trail: list[audit.AuditEntryView]
    chain_ok: bool
    chain_problems: list[str]
    team_name: str
    # Links to families' missing-person inquiries (issue 16): inquiry id, state, score, meaning.
    inquiry_links: list[InquiryLinkRow] = field(default_factory=list)
    # Alerts of the case's standing search (issue 16): every one, open or acknowledged.
    alerts: list[AlertInfo] = field(default_factory=list)


def _inquiry_links(session: Session, case_id: int) -> list[InquiryLinkRow]:
    """The case's links to inquiries, best first (read from the case layer's own tables)."""
    rows = session.scalars(
        select(InquiryLink).where(InquiryLink.case_id == case_id).order_by(InquiryLink.score.desc())
    )
    return [
        InquiryLinkRow(
            r.inquiry_id, r.state, r.score, r.decision, r.meaning, ", ".join(r.reviewers or [])
        )
        for r in rows
    ]


def _data_uri(data: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def _safe(picture: Any) -> str | None:
    try:
        return _data_uri(jpeg_bytes(picture()))
    except (ImageError, OSError, ValueError) as exc:
        log.warning("report picture unavailable: %s", exc)
        return None


def _kin_rows(workspace: Workspace, info: CaseInfo) -> list[dict[str, Any]]:
    """Relatives of the identified person with their evidence, when the kin engine is present."""
    if not info.identified_ref:
        return []
    try:
        from nextofkin.kin.engine import KinService
    except ImportError:
        return []
    source, _, external = info.identified_ref.partition("/")
    try:
        result = KinService(workspace).kin(external, source=source, top=10)
    except NextOfKinError as exc:
        log.warning("kin unavailable for %s: %s", info.identified_ref, exc)
        return []
    return [
        {
            "account": f"{r.source}/{r.account}",
            "name": r.name,
            "relation": r.relation + (f" ({r.kinship})" if r.kinship else ""),
            "score": r.score,
            "reasons": "; ".join(r.reasons),
            "evidence": "; ".join(
                f"{e.photo} ({e.why}"
                + (f", {e.similarity:.3f}" if e.similarity is not None else "")
                + (f", tag ({e.tag})" if e.tag else "")
                + ")"
                for e in r.evidence[:3]
            ),
        }
        for r in result.relations
    ]


def collect(session: Session, workspace: Workspace, actor: str | None, number: str) -> ReportData:
    """Gather the report's content (checks the ``view`` permission; the view is audited)."""
    from nextofkin.notify.service import outbox

    user = require(session, actor, Permission.VIEW)
    info = view_case(session, user.name, number)
    custody = {c.stored_path: c.ok for c in verify_custody(session, workspace, number)}
    media = workspace.media_dir
    photos = [
        {
            "info": p,
            "custody_ok": custody.get(p.stored_path, False),
            "thumb": _safe(lambda p=p: clean_photo(media / p.stored_path, max_side=420)),
        }
        for p in info.photos
    ]
    verdicts: dict[str, list[str]] = {}
    for d in info.decisions:
        verdicts.setdefault(d.account_ref, []).append(
            gettext("%(verdict)s by %(user)s", verdict=verdict_label(d.decision), user=d.reviewer)
        )
    searches = []
    for s in info.searches:
        probe = max(s.probe_faces, key=lambda p: p.quality, default=None)
        probe_face = None
        if probe is not None and (media / probe.photo).is_file():
            probe_face = _safe(
                lambda probe=probe: face_crop(
                    media / probe.photo, probe.box, rotation=probe.rotation
                )
            )
        view = SearchView(
            s.id,
            s.run_by,
            s.run_at,
            s.model,
            s.gallery_size,
            dict(s.params.get("calibration") or {}),
        )
        samples = view.calibration.get("samples")
        for rank, c in enumerate(s.candidates, start=1):
            ref = c.ref
            live = set(
                session.scalars(select(Face.id).where(Face.id.in_([e.face_id for e in c.evidence])))
            )
            evidence = [e for e in c.evidence if e.face_id in live]
            gallery_face = None
            if evidence:
                best = evidence[0]
                gallery_face = _safe(lambda best=best: face_crop(Path(best.image_path), best.box))
            view.candidates.append(
                CandidateView(
                    rank=rank,
                    ref=ref,
                    name=c.name,
                    url=c.url,
                    score=c.score,
                    similarity=c.similarity,
                    margin=c.margin,
                    decision=c.decision,
                    # Written again in the report's language from the stored numbers.
                    meaning=stored_meaning(c.fpir, s.gallery_size, samples, c.meaning),
                    decision_text=decision_explanation(c.decision),
                    probe_face=probe_face,
                    gallery_face=gallery_face,
                    evidence=evidence,
                    verdicts=verdicts.get(ref, []),
                )
            )
        searches.append(view)
    messages = [m.__dict__ for m in outbox(session, user.name, number)]
    chain = audit.verify(session)
    trail = audit.entries(session, case=number)
    return ReportData(
        case=info,
        generated_at=datetime.now(UTC),
        generated_by=user.name,
        photos=photos,
        searches=searches,
        messages=messages,
        kin=_kin_rows(workspace, info),
        trail=trail,
        chain_ok=chain.ok,
        chain_problems=[p.message for p in chain.problems],
        team_name=workspace.settings.notify.team_name or gettext("Identification team"),
        inquiry_links=_inquiry_links(session, get_case(session, number).id),
        alerts=list_alerts(session, user.name, state=None, case_number=number),
    )


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML page."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("nextofkin.cases", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
    )
    env.filters["short"] = shorten_hashes
    install_jinja(env)
    # The same labels as the web UI (stored values stay English; people read these).
    env.filters["when"] = _when
    env.filters["state"] = state_label
    env.filters["verdict"] = verdict_label
    env.filters["decision"] = decision_label
    env.filters["face_role"] = face_role_label
    env.filters["message_state"] = message_state_label
    return env.get_template("report.html.j2").render(r=data)


def _when(value: datetime | str | None) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_datetime(value)


_HEX = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{20,}\b")


def shorten_hashes(value: Any) -> str:
    """``value`` as text with long hex digests cut to 12 digits (full ones: ``audit show``)."""
    return _HEX.sub(r"\1…", str(value))


SHOWS_SUFFIX = ".shows.json"


def shown(data: ReportData) -> dict[str, list[Any]]:
    """The gallery faces and accounts a report shows (a purge deletes reports showing its own)."""
    faces = {e.face_id for s in data.searches for c in s.candidates for e in c.evidence}
    accounts = {c.ref for s in data.searches for c in s.candidates}
    accounts |= {str(k["account"]) for k in data.kin}
    accounts |= {d.account_ref for d in data.case.decisions}
    return {"faces": sorted(faces), "accounts": sorted(accounts)}


def write_report(
    workspace: Workspace,
    actor: str | None,
    number: str,
    fmt: Literal["html", "pdf"] = "html",
    out: Path | None = None,
    language: str | None = None,
) -> Path:
    """Render the case report to ``out`` (default: the workspace's reports folder) and audit it.

    ``language`` is the report's (it is often for someone else: a prosecutor, a family's
    lawyer); by default the current one (``--language`` / ``NEXTOFKIN_LANGUAGE``).
    """
    if fmt not in ("html", "pdf"):
        raise InputError(f"unknown report format {fmt!r} (html or pdf)")
    with use_language(language or current_language()), workspace.session() as session:
        data = collect(session, workspace, actor, number)
        case_id = get_case(session, number).id
        html = render_html(data)
    if out is None:
        slug = re.sub(r"[^\w.-]+", "_", number)
        out = workspace.media_dir / "reports" / str(case_id) / f"case-{slug}.{fmt}"
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        out.write_text(html, encoding="utf-8")
    else:
        from weasyprint import HTML

        HTML(string=html, base_url=str(workspace.media_dir)).write_pdf(str(out))
    if out.resolve().is_relative_to(workspace.home.resolve()):
        # Kept beside the report so that a purge finds the reports that show what it removes.
        sidecar = out.with_name(out.name + SHOWS_SUFFIX)
        sidecar.write_text(json.dumps(shown(data)), encoding="utf-8")
    with workspace.session() as session:
        audit.record(
            session,
            data.generated_by,
            audit.Action.CASE_REPORT,
            f"case:{number}",
            {"format": fmt, "path": str(out), "language": language or current_language()},
            case=number,
        )
    return out
