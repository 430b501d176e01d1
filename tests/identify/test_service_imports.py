"""Searching loads no ingest code: ``nextofkin.identify.service`` reaches the cohort through
``identify/cohort.py``, not ``identify/derived.py`` (which imports the ingest and its importers)."""

from __future__ import annotations

import subprocess
import sys

# A fresh interpreter: in the test process another test may already have imported the ingest.
PROBE = (
    "import sys, nextofkin.identify.service; "
    "print('\\n'.join(m for m in sys.modules if m.startswith('nextofkin.')))"
)


def test_identify_service_does_not_import_the_ingest_chain() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "nextofkin.identify.service" in out
    heavy = [
        m for m in out if m.startswith(("nextofkin.gallery.ingest", "nextofkin.gallery.importers"))
    ]
    assert heavy == [], heavy
    assert "nextofkin.identify.derived" not in out
