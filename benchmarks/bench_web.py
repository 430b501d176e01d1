"""Case page latency: a case with 20 candidates on an LFW gallery, rendered warm.

Builds (once, kept in --workspace for reruns) a gallery from LFW with ``build_demo_gallery``,
ingests it, opens a case with a post-mortem-like probe of a held-out photo and searches it for
20 candidates with the real models. Then, through the whole ASGI stack in-process (session
cookie, CSRF, security headers, database, templates), it times

* the case page ``GET /cases/NUMBER`` (probes, 20 candidates with evidence, review status,
  custody re-hash of the case photos, audit entry for the view), and
* the same case's candidates as JSON ``GET /api/cases/NUMBER/candidates`` (the API's view of the
  same data: the nearest thing to a peer, since no other tool renders this page),

and prints p50/p90 of each and their ratio. The target is p50 < 200 ms for the page.

    python benchmarks/bench_web.py [--workspace DIR] [--photos 300] [--runs 60]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
import warnings
from pathlib import Path

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "lfw"
CASE = "BENCH-20"


def prepare(home: Path, photos: int) -> None:
    """Gallery, users and a searched case with 20 candidates (skipped when already there)."""
    from nextofkin.cases.service import identify_for_case
    from nextofkin.demo.build import build_demo_gallery, post_mortem_probe
    from nextofkin.identify.derived import ingest
    from nextofkin.settings import Settings
    from nextofkin.users.service import add_user, list_users
    from nextofkin.workspace import Workspace

    ws = Workspace.open(Settings.load(home))
    try:
        with ws.session() as s:
            if not list_users(s):
                add_user(s, None, "ada", "admin")
                add_user(s, "ada", "ivan", "investigator")
                add_user(s, "ada", "rita", "reviewer")
        from nextofkin.gallery.ingest import gallery_counts

        with ws.session() as s:
            counts = gallery_counts(s)
        if counts["accounts"] == 0:
            print(f"building and ingesting a gallery of {photos} LFW photos (once)...")
            gallery = build_demo_gallery(
                LFW / "images", home / "gallery", max_photos=photos, seed=11
            )
            ingest(ws, gallery.root, source_name="lfw", workers=2)
            person = sorted(gallery.held_out)[0]
            probe = post_mortem_probe(gallery.held_out[person], home / "probe.jpg")
            outcome = identify_for_case(ws, "ivan", CASE, [probe], top=20)
            print(f"case {CASE}: {len(outcome.result.candidates)} candidates")
    finally:
        ws.close()


def cookie(app: object, user: str, csrf: str) -> str:
    """A server-side session for ``user``, as the login form would make it (skips argon2 in a
    timing loop); returns the cookie value."""
    from nextofkin.web import sessions

    web = app.state.web  # type: ignore[attr-defined]
    with web.workspace.session() as s:
        raw, _ = sessions.create(
            s, None, sessions.Lifetimes.of(web.settings.web), user=user, data={"csrf": csrf}
        )
    return raw


def timed(client: object, path: str, runs: int) -> list[float]:
    get = client.get  # type: ignore[attr-defined]
    for _ in range(5):
        assert get(path).status_code == 200
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        response = get(path)
        out.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/nok-bench-web"))
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--runs", type=int, default=60)
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
        candidates = client.get(f"/api/cases/{CASE}/candidates").json()["candidates"]
        page = client.get(f"/cases/{CASE}").text
        n = page.count("data-candidate")
        accounts = client.get("/api/status").json()["counts"]["accounts"]
        html = timed(client, f"/cases/{CASE}", args.runs)
        api = timed(client, f"/api/cases/{CASE}/candidates", args.runs)

    def q(values: list[float], p: float) -> float:
        return statistics.quantiles(values, n=100)[int(p) - 1]

    p50_html, p50_api = statistics.median(html), statistics.median(api)
    print(f"gallery: {accounts} accounts (LFW); case {CASE}: {n} candidates on the page "
          f"({len(candidates)} in the API), page {len(page):,} bytes")  # fmt: skip
    print(
        f"case page   p50 {p50_html:7.1f} ms  p90 {q(html, 90):7.1f} ms  ({args.runs} runs, warm)"
    )
    print(f"JSON (API)  p50 {p50_api:7.1f} ms  p90 {q(api, 90):7.1f} ms")
    print(f"ratio page/API p50: {p50_html / p50_api:.2f}")
    print(f"target p50 < 200 ms: {'met' if p50_html < 200 else 'NOT met'}")
    sys.exit(0 if p50_html < 200 else 1)


if __name__ == "__main__":
    main()
