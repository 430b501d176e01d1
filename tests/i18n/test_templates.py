"""No template shows text a person reads outside the catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest
from template_scan import scan

SRC = Path(__file__).resolve().parents[2] / "src"
# The letters to families are written per language (notify/templates/<lang>/): not scanned.
TEMPLATES = sorted(
    [
        *SRC.glob("nextofkin/**/templates/**/*.html"),
        SRC / "nextofkin/reports/templates/report.html.j2",
    ]
)


def test_templates_are_found() -> None:
    assert len(TEMPLATES) >= 15


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_no_literal_text(path: Path) -> None:
    found = scan(path, SRC)
    shown = "\n".join(f"  {f.template}:{f.line}: {f.text!r}" for f in found)
    assert not found, f"{len(found)} strings outside the catalogue:\n{shown}"


def test_the_scanner_sees_what_it_should(tmp_path: Path) -> None:
    """Each kind of literal text is found; translated and dynamic text is not."""
    page = tmp_path / "t.html"
    page.write_text(
        '<p title="Open the case">Hello there</p>\n'
        '{{ badge("match", "strong match") }}\n'
        '<p title="{{ _(\'Open\') }}">{{ _("Fine words") }} {{ n }}</p>\n'
        "{% trans %}Also <b>fine</b>{% endtrans %}\n"
        '{{ ngettext("%(num)d photo", "%(num)d photos", n) }}\n'
        "<script>let words = 'not page text';</script>\n"
        "<p>nextofkin · HTTP 404</p>\n",
        encoding="utf-8",
    )
    texts = sorted(f.text for f in scan(page, tmp_path))
    assert texts == ['"strong match"', "Hello there", 'title="Open the case"']
