"""Case page latency in Ukrainian against English, in the same run (issue 18).

The case of ``bench_web.py`` (a gallery from LFW, a case with 20 candidates, built once in
--workspace) is rendered warm through the whole ASGI stack, alternately with
``Accept-Language: en`` and ``uk`` so both languages share whatever load the machine has. The
Ukrainian page carries the same data through the catalogue (translated labels, plural forms,
locale number and date formats, each candidate's meaning written again from stored numbers).
Prints p50/p90 of each and the ratio; the goal is uk p50 within 5% of en.

    python benchmarks/bench_i18n.py [--workspace DIR] [--photos 300] [--runs 80]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_web import CASE, cookie, prepare

LANGUAGES = {"en": "en-GB,en;q=0.9", "uk": "uk-UA,uk;q=0.9,en;q=0.5"}


def alternate(client: object, path: str, runs: int) -> dict[str, list[float]]:
    """Time ``path`` in each language, one language after the other, ``runs`` times each."""
    get = client.get  # type: ignore[attr-defined]
    out: dict[str, list[float]] = {lang: [] for lang in LANGUAGES}
    for _ in range(5):
        for header in LANGUAGES.values():
            assert get(path, headers={"Accept-Language": header}).status_code == 200
    for i in range(runs):
        # Swap the order every run, so neither language always goes first after a pause.
        order = list(LANGUAGES.items()) if i % 2 == 0 else list(reversed(LANGUAGES.items()))
        for lang, header in order:
            start = time.perf_counter()
            response = get(path, headers={"Accept-Language": header})
            out[lang].append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/nok-bench-web"))
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--runs", type=int, default=80)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    home = args.workspace.resolve()
    prepare(home, args.photos)

    from fastapi.testclient import TestClient

    from nextofkin.settings import Settings
    from nextofkin.web.app import create_app
    from nextofkin.web.config import WebConfig
    from nextofkin.web.sessions import COOKIE

    app = create_app(Settings.load(home), WebConfig(load_models=False))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.cookies.set(COOKIE, cookie(app, "rita", secrets.token_urlsafe(32)))
        uk_page = client.get(f"/cases/{CASE}", headers={"Accept-Language": LANGUAGES["uk"]}).text
        assert '<html lang="uk">' in uk_page and "Кандидати" in uk_page
        n = uk_page.count("data-candidate")
        times = alternate(client, f"/cases/{CASE}", args.runs)

    def q(values: list[float], p: int) -> float:
        return statistics.quantiles(values, n=100)[p - 1]

    p50 = {lang: statistics.median(values) for lang, values in times.items()}
    print(f"case {CASE}: {n} candidates; {args.runs} warm runs per language, alternating")
    for lang, values in times.items():
        print(f"case page {lang}  p50 {p50[lang]:7.1f} ms  p90 {q(values, 90):7.1f} ms")
    ratio = p50["uk"] / p50["en"]
    print(f"ratio uk/en p50: {ratio:.3f}")
    print(f"goal: uk p50 within 5% of en: {'met' if ratio <= 1.05 else 'NOT met'}")
    sys.exit(0 if ratio <= 1.05 else 1)


if __name__ == "__main__":
    main()
