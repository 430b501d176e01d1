"""The case report rendered: one self-contained HTML page, or a PDF of it, written and audited."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Literal

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from nextofkin import audit
from nextofkin.cases.labels import message_state_label, state_label, verdict_label
from nextofkin.cases.purge import SHOWS_SUFFIX
from nextofkin.cases.service import get_case
from nextofkin.errors import InputError
from nextofkin.gallery.labels import face_role_label
from nextofkin.i18n import _, current_language, format_datetime, install_jinja, use_language
from nextofkin.identify.meaning import decision_label
from nextofkin.reports.content import ReportData, collect
from nextofkin.workspace import Workspace


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML page."""
    env = Environment(
        loader=PackageLoader("nextofkin.reports", "templates"),
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


def shorten_hashes(value: object) -> str:
    """``value`` as text with long hex digests cut to 12 digits (full ones: ``audit show``)."""
    return _HEX.sub(r"\1…", str(value))


def shown(data: ReportData) -> dict[str, list[int] | list[str]]:
    """The gallery faces and accounts a report shows (a purge deletes reports showing its own)."""
    faces = {e.face_id for s in data.searches for c in s.candidates for e in c.evidence}
    accounts = {c.ref for s in data.searches for c in s.candidates}
    accounts |= {k.account for k in data.kin}
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
        raise InputError(_("unknown report format %(fmt)r (html or pdf)", fmt=fmt))
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
        # Deferred: WeasyPrint (Pango, fonts) takes seconds to import and only PDFs need it.
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
