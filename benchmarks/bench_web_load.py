"""The web server under load: case page latency with 8 clients, and while another user searches.

Builds a workspace of its own (a synthetic gallery written straight into the records, a team
with API bearer tokens, cases each with two post-mortem photos, a stored search of 10 candidates
with evidence and a few review decisions), then starts the real server (``nextofkin serve``,
uvicorn, real face models) in a subprocess on 127.0.0.1 and a free port, and measures over
loopback:

1. **load**: 8 concurrent clients (threads, one ``httpx.Client`` each, bearer tokens of four
   users) make 2,000 requests in total to the case page ``GET /cases/NUMBER`` (the HTML page a
   reviewer works in: authentication, audit entry for the view, custody re-hash of the case
   photos, candidates, review status); p50/p95/p99 and throughput.
2. **during a search**: one client posts a big blank photo (6000x6000 solid JPEG, under the
   40-megapixel limit) to ``POST /api/identify``, the slow search of issue 12; meanwhile the
   other 7 keep requesting the case page. Their p95 during the search is compared with 7
   clients alone for the same time (the ratio is what matters on a shared machine).

The target (issue 12): case page p95 < 300 ms under load, and no request waits behind another
user's search.

    python benchmarks/bench_web_load.py [--quick] [--requests 2000] [--clients 8]
        [--workspace DIR] [--keep]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
USERS = {"ada": "admin", "ivan": "investigator", "rita": "reviewer", "rob": "reviewer"}
CASE_PREFIX = "LOAD-"


# --- the workspace ------------------------------------------------------------------------------


def _jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _gallery(ws: object, accounts: int, faces_per_account: int, seed: int) -> dict[str, object]:
    """Accounts, images, photos, faces (unit vectors around a centre per account) and roles."""
    from sqlalchemy import insert, select

    from nextofkin.gallery.maintenance import embedder_spec
    from nextofkin.gallery.records import (
        Account,
        Face,
        FaceRole,
        FaceRoleRecord,
        Image,
        Photo,
        Source,
    )

    spec = embedder_spec(ws)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((accounts, spec.dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    names = [f"person{i:05d}" for i in range(accounts)]
    with ws.session() as s:  # type: ignore[attr-defined]
        src = Source(name="vk", root="/synthetic/vk", layout="manifest")
        s.add(src)
        s.flush()
        s.execute(
            insert(Account),
            [
                {
                    "source_id": src.id,
                    "external_id": n,
                    "name": f"Person {i}",
                    "url": f"https://vk.example/{n}",
                    "city": "Kharkiv",
                    "contacts": {"email": f"{n}@example.org"},
                    "friends": [],
                    "extra": {},
                    "roles_dirty": False,
                }
                for i, n in enumerate(names)
            ],
        )
        account_ids = {
            str(e): int(i)
            for e, i in s.execute(
                select(Account.external_id, Account.id).where(Account.source_id == src.id)
            )
        }
        s.execute(
            insert(Image),
            [
                {
                    "sha256": f"{n}-{j}".ljust(64, "0")[:64],
                    "path": f"/synthetic/vk/{n}/{j}.jpg",
                    "width": 800,
                    "height": 600,
                    "size_bytes": 90_000,
                    "detector": "synthetic",
                    "tried": [],
                }
                for n in names
                for j in range(faces_per_account)
            ],
        )
        image_ids = {str(p): int(i) for p, i in s.execute(select(Image.path, Image.id))}
        s.execute(
            insert(Photo),
            [
                {
                    "source_id": src.id,
                    "account_id": account_ids[n],
                    "rel_path": f"{n}/{j}.jpg",
                    "kind": "post",
                    "caption": f"summer {2015 + j}",
                    "tagged": [],
                    "status": "done",
                    "image_id": image_ids[f"/synthetic/vk/{n}/{j}.jpg"],
                }
                for n in names
                for j in range(faces_per_account)
            ],
        )
        faces = []
        for i, n in enumerate(names):
            noise = rng.standard_normal((faces_per_account, spec.dim)) * (0.35 / np.sqrt(spec.dim))
            vectors = centres[i] + noise
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            for j in range(faces_per_account):
                faces.append(
                    {
                        "image_id": image_ids[f"/synthetic/vk/{n}/{j}.jpg"],
                        "ordinal": 0,
                        "left": 300.0,
                        "top": 150.0,
                        "right": 460.0,
                        "bottom": 330.0,
                        "landmarks": [],
                        "detection_score": 1.0,
                        "quality": 0.9,
                        "quality_parts": {},
                        "rotation": 0,
                        "model": spec.name,
                        "alignment": spec.alignment,
                        "embedding": vectors[j].astype(np.float32),
                    }
                )
        s.execute(insert(Face), faces)
        rows = s.execute(
            select(Face.id, Image.path, Photo.id)
            .join(Image, Image.id == Face.image_id)
            .join(Photo, Photo.image_id == Image.id)
        ).all()
        by_account: dict[str, list[tuple[int, int, str]]] = {n: [] for n in names}
        for face_id, path, photo_id in rows:
            owner = path.split("/")[-2]
            by_account[owner].append((int(face_id), int(photo_id), path))
        s.execute(
            insert(FaceRoleRecord),
            [
                {
                    "account_id": account_ids[n],
                    "face_id": face_id,
                    "role": FaceRole.OWNER.value,
                    "confidence": 1.0,
                    "cluster": 0,
                }
                for n, found in by_account.items()
                for face_id, _, _ in found
            ],
        )
    return {"account_ids": account_ids, "faces": by_account}


def build(
    home: Path, *, accounts: int, cases: int, candidates: int, history: int
) -> dict[str, str]:
    """Make the workspace; returns a bearer token per user."""
    from nextofkin import audit
    from nextofkin.cases.review import review
    from nextofkin.cases.service import attach_search, open_case
    from nextofkin.identify.derived import refresh_derived
    from nextofkin.identify.search import Candidate, Evidence, ProbeFace, SearchResult
    from nextofkin.settings import Settings
    from nextofkin.users.service import add_user
    from nextofkin.users.tokens import create_token
    from nextofkin.workspace import Workspace

    started = time.perf_counter()
    settings = Settings.load(home)
    ws = Workspace.open(settings)
    try:
        with ws.session() as s:
            for name, role in USERS.items():
                add_user(s, None if name == "ada" else "ada", name, role)
        tokens = {}
        with ws.session() as s:
            for name in USERS:
                tokens[name] = create_token(s, name, name, "load benchmark").token
        gallery = _gallery(ws, accounts, 3, seed=7)
        refresh_derived(ws)  # the index and its calibration, as after an ingest
        account_ids: dict[str, int] = gallery["account_ids"]  # type: ignore[assignment]
        faces: dict[str, list[tuple[int, int, str]]] = gallery["faces"]  # type: ignore[assignment]
        names = sorted(account_ids)
        rng = np.random.default_rng(3)
        photos_dir = home / "incoming"
        photos_dir.mkdir(parents=True, exist_ok=True)
        for c in range(cases):
            number = f"{CASE_PREFIX}{c:03d}"
            paths = []
            for k in range(2):  # a phone photo's size: 2400x1800, noisy (about 2 MB)
                pixels = rng.integers(0, 256, (1800, 2400, 3), dtype=np.uint8)
                pixels[600:1200, 900:1500] //= 2
                path = photos_dir / f"{number}-{k}.jpg"
                path.write_bytes(_jpeg(pixels, quality=85))
                paths.append(path)
            with ws.session() as s:
                info = open_case(s, ws, "ivan", number, paths, found_at="2024-05-17", place="Izium")
            picked = rng.choice(len(names), size=candidates, replace=False)
            found = []
            for rank, i in enumerate(picked):
                name = names[int(i)]
                score = round(0.95 - rank * 0.05, 3)
                decision = "match" if score >= 0.8 else "possible" if score >= 0.7 else "no match"
                found.append(
                    Candidate(
                        account_id=account_ids[name],
                        account=name,
                        source="vk",
                        name=f"Person {name[6:]}",
                        url=f"https://vk.example/{name}",
                        score=score,
                        similarity=score - 0.1,
                        decision=decision,
                        fpir=0.0005 if decision == "match" else 0.02,
                        meaning="a stranger scores this high about 1 time in 2,000",
                        margin=0.05,
                        evidence=[
                            Evidence(
                                face_id=face_id,
                                photo_id=photo_id,
                                photo=f"{name}/{j}.jpg",
                                image_path=path,
                                box=[300.0, 150.0, 460.0, 330.0],
                                similarity=score - 0.1 - 0.01 * j,
                                score=score - 0.01 * j,
                                role="owner",
                                kind="post",
                                caption=f"summer {2015 + j}",
                            )
                            for j, (face_id, photo_id, path) in enumerate(faces[name])
                        ],
                    )
                )
            result = SearchResult(
                probes=[
                    ProbeFace(
                        photo=str(ws.media_dir / p.stored_path),
                        box=[900.0, 600.0, 1500.0, 1200.0],
                        rotation=0,
                        detection_score=1.0,
                        quality=0.7,
                        faces_in_photo=1,
                        tried=[],
                    )
                    for p in info.photos
                ],
                candidates=found,
                sightings=[],
                gallery_accounts=accounts,
                gallery_faces=accounts * 3,
                model="dlib-resnet",
                calibration={"match_threshold": 0.8, "possible_threshold": 0.7},
            )
            with ws.session() as s:
                attach_search(s, ws, "ivan", number, result)
            with ws.session() as s:  # a few decisions: one confirmation, one rejection
                if c % 2 == 0:
                    review(
                        s,
                        settings.review,
                        "rita",
                        number,
                        f"vk/{found[0].account}",
                        "confirm",
                        reason="scar on the left hand",
                    )
                review(
                    s,
                    settings.review,
                    "rob",
                    number,
                    f"vk/{found[-1].account}",
                    "reject",
                    reason="different ears",
                )
        with ws.session() as s:  # a log in use: earlier views and searches of other cases
            for i in range(history):
                audit.record(
                    s,
                    "rita",
                    audit.Action.CASE_VIEW,
                    f"case:OLD-{i % 300}",
                    {"searches": 1},
                    case=f"OLD-{i % 300}",
                )
    finally:
        ws.close()
    print(
        f"workspace: {accounts} accounts ({accounts * 3} faces), {cases} cases with "
        f"{candidates} candidates, {history} earlier audit entries "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return tokens


# --- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(home: Path) -> Server:
    import httpx

    port = free_port()
    log = home / "server.log"
    exe = Path(sys.executable).with_name("nextofkin")
    command = [str(exe), "--workspace", str(home), "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    env = dict(os.environ, NEXTOFKIN_HOME=str(home))
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited ({process.returncode}); see {log}")
        try:
            # the lifespan hook loads the models before the server answers at all
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                return Server(process, url, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"server did not come up; see {log}")


# --- the clients --------------------------------------------------------------------------------


@dataclass
class Sample:
    start: float
    end: float
    status: int

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000


def client_loop(
    url: str,
    token: str,
    numbers: list[str],
    offset: int,
    take: TakeFn,
    out: list[Sample],
) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        i = offset
        while take():
            number = numbers[i % len(numbers)]
            i += 1
            t0 = time.perf_counter()
            response = client.get(f"/cases/{number}")
            t1 = time.perf_counter()
            if response.status_code != 200 or "cand-1" not in response.text:
                print(f"  ! {number}: {response.status_code} {response.text[:200]!r}")
            out.append(Sample(t0, t1, response.status_code))


class TakeFn:
    """A shared request budget (a count) or a stop flag (an event)."""

    def __init__(self, budget: int | None = None, stop: threading.Event | None = None) -> None:
        self.budget = budget
        self.stop = stop
        self.lock = threading.Lock()

    def __call__(self) -> bool:
        if self.stop is not None:
            return not self.stop.is_set()
        with self.lock:
            assert self.budget is not None
            if self.budget <= 0:
                return False
            self.budget -= 1
            return True


def run_clients(
    url: str, tokens: list[str], numbers: list[str], take: TakeFn, clients: int
) -> tuple[list[Sample], float]:
    samples: list[list[Sample]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(
            target=client_loop,
            args=(url, tokens[i % len(tokens)], numbers, i * 7, take, samples[i]),
        )
        for i in range(clients)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [s for group in samples for s in group], time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(label: str, samples: list[Sample], seconds: float) -> dict[str, float]:
    ms = [s.ms for s in samples]
    bad = sum(1 for s in samples if s.status != 200)
    figures = {
        "n": len(ms),
        "p50": pct(ms, 50),
        "p95": pct(ms, 95),
        "p99": pct(ms, 99),
        "max": max(ms) if ms else float("nan"),
        "rps": len(ms) / seconds if seconds else float("nan"),
    }
    print(
        f"{label:<34} n={figures['n']:>5.0f}  p50 {figures['p50']:7.1f} ms  "
        f"p95 {figures['p95']:7.1f} ms  p99 {figures['p99']:7.1f} ms  max {figures['max']:7.1f} ms"
        f"  {figures['rps']:6.1f} req/s" + (f"  ({bad} not 200)" if bad else "")
    )
    return figures


def blank_probe(side: int) -> bytes:
    """A solid-colour JPEG of ``side`` x ``side`` pixels (small file, huge image)."""
    return _jpeg(np.full((side, side, 3), 128, dtype=np.uint8), quality=90)


def during_search(
    url: str, tokens: dict[str, str], numbers: list[str], clients: int, side: int
) -> tuple[list[Sample], float, int, str]:
    """Page clients while one client's slow search runs: their samples, the search's time."""
    import httpx

    stop = threading.Event()
    result: dict[str, object] = {}
    probe = blank_probe(side)

    def searcher() -> None:
        t0 = time.perf_counter()
        with httpx.Client(base_url=url, timeout=900) as client:
            response = client.post(
                "/api/identify",
                headers={"Authorization": f"Bearer {tokens['ivan']}"},
                files=[("photos", ("blank.jpg", probe, "image/jpeg"))],
                data={"top": "10"},
            )
        result["seconds"] = time.perf_counter() - t0
        result["status"] = response.status_code
        result["body"] = response.text[:160]
        stop.set()

    page_tokens = [tokens[n] for n in ("rita", "rob", "ada", "ivan")]
    search_thread = threading.Thread(target=searcher)
    search_thread.start()
    time.sleep(0.2)  # the upload is in; the search is running
    samples, _ = run_clients(url, page_tokens, numbers, TakeFn(stop=stop), clients)
    search_thread.join()
    return (
        samples,
        float(result["seconds"]),  # type: ignore[arg-type]
        int(result["status"]),  # type: ignore[call-overload]
        str(result["body"]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (smaller everything)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--history", type=int, default=5000, help="earlier audit entries")
    parser.add_argument("--probe-side", type=int, default=6000)
    parser.add_argument("--workspace", type=Path, help="reuse/keep this workspace")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    args = parser.parse_args()
    if args.quick:
        args.requests = min(args.requests, 300)
        args.accounts = min(args.accounts, 600)
        args.cases = min(args.cases, 6)
        args.history = min(args.history, 500)
        args.probe_side = min(args.probe_side, 4000)

    import warnings

    warnings.filterwarnings("ignore", message=".*httpx2.*")
    home = args.workspace or Path(tempfile.mkdtemp(prefix="nok-load-")) / "ws"
    token_file = home / "bench-tokens.txt"
    if token_file.is_file():
        tokens = dict(line.split("=", 1) for line in token_file.read_text().split())
        print(f"workspace {home} (reused)")
    else:
        home.mkdir(parents=True, exist_ok=True)
        tokens = build(
            home,
            accounts=args.accounts,
            cases=args.cases,
            candidates=args.candidates,
            history=args.history,
        )
        token_file.write_text("".join(f"{k}={v}\n" for k, v in tokens.items()))
        token_file.chmod(0o600)
    numbers = [f"{CASE_PREFIX}{c:03d}" for c in range(args.cases)]
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}")
    t0 = time.perf_counter()
    server = start_server(home)
    print(f"server up at {server.url} with the models loaded ({time.perf_counter() - t0:.0f} s)")
    try:
        team = [tokens[n] for n in ("rita", "rob", "ivan", "ada")]
        run_clients(server.url, team, numbers, TakeFn(budget=4 * args.clients), args.clients)
        print(f"\n1. load: {args.clients} clients, {args.requests} requests of GET /cases/NUMBER")
        samples, seconds = run_clients(
            server.url, team, numbers, TakeFn(budget=args.requests), args.clients
        )
        load = summary(f"case page, {args.clients} clients", samples, seconds)
        print(f"   target p95 < 300 ms: {'met' if load['p95'] < 300 else 'NOT met'}")

        quiet_clients = args.clients - 1
        print(f"\n2. during a search: POST /api/identify {args.probe_side}² blank JPEG")
        print(f"   while {quiet_clients} clients request the case page")
        busy, search_s, status, body = during_search(
            server.url, tokens, numbers, quiet_clients, args.probe_side
        )
        print(f"   the search took {search_s:.1f} s: {status} {body!r}")
        during = summary("case page, during the search", busy, search_s)
        alone_budget = max(len(busy), 50)
        alone, alone_s = run_clients(
            server.url, team, numbers, TakeFn(budget=alone_budget), quiet_clients
        )
        base = summary(f"case page, {quiet_clients} clients, no search", alone, alone_s)
        print(
            f"   p95 during / without the search: {during['p95'] / base['p95']:.2f}x; "
            f"median {during['p50'] / base['p50']:.2f}x; slowest page during the search "
            f"{during['max']:.0f} ms vs the search's {search_s * 1000:.0f} ms"
        )
        waited = during["max"] >= 0.5 * search_s * 1000
        print(f"   a page waited behind the search: {'YES' if waited else 'no'}")
    finally:
        server.stop()
        if args.workspace is None and not args.keep:
            shutil.rmtree(home.parent, ignore_errors=True)
        else:
            print(f"workspace kept in {home}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
