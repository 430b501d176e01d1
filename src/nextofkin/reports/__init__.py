"""The case report: what a team must be able to show about one case, as HTML or PDF.

It sits above ``notify`` in the layers (docs/ARCHITECTURE.md) because it shows the case's messages
as well as its searches, decisions, kin findings and audit trail: gathering (``content``) and
rendering and writing (``render``) import the services below them, never the other way round.
"""

from __future__ import annotations

from nextofkin.reports.content import (
    CandidateView,
    InquiryLinkRow,
    KinRow,
    PhotoRow,
    ReportData,
    SearchView,
    collect,
)
from nextofkin.reports.render import render_html, shorten_hashes, shown, write_report

__all__ = [
    "CandidateView",
    "InquiryLinkRow",
    "KinRow",
    "PhotoRow",
    "ReportData",
    "SearchView",
    "collect",
    "render_html",
    "shorten_hashes",
    "shown",
    "write_report",
]
