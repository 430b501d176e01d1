"""The family circle computed per query gives what the gallery-wide graph gives (issue 13's
warm-up regression): on a small generated gallery, ingested with the real face models."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from nextofkin.cli import build_app
from nextofkin.kin.engine import KinService
from nextofkin.kin.evaluate import load_truth
from nextofkin.kin.sample.generate import generate
from nextofkin.settings import Settings
from nextofkin.workspace import Workspace

pytestmark = [pytest.mark.lfw, pytest.mark.models, pytest.mark.slow]


@pytest.fixture(scope="module")
def ingested(
    lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workspace, Path]]:
    base = tmp_path_factory.mktemp("kin-circle")
    root = base / "circle-gallery"
    generate(lfw_dir / "images", root, seed=14, accounts=24, density=0.6, workers=2)
    done = CliRunner().invoke(
        build_app(), ["--workspace", str(base / "ws"), "ingest", str(root), "-j", "2"]
    )
    assert done.exit_code == 0, done.output
    ws = Workspace.open(Settings.load(base / "ws"))
    try:
        yield ws, root
    finally:
        ws.close()


class _FullCircle(KinService):
    """The engine with its family circle read from the gallery-wide graph built in full (as it
    was before the circle was computed per query)."""

    def circle_links(
        self, session: Session, family: set[int], candidates: set[int]
    ) -> dict[int, set[int]]:
        return self.together(session)


def test_per_query_links_are_the_full_graphs(ingested: tuple[Workspace, Path]) -> None:
    ws, _ = ingested
    rng = random.Random(3)
    for declared in (True, False):
        service = KinService(ws, declared=declared)
        with ws.session() as session:
            full = service.together(session)
            everyone = set(service.links(session).accounts)
            whole = service.circle_links(session, everyone, everyone)
            assert {a: b for a, b in whole.items() if b} == {a: b for a, b in full.items() if b}
            assert sum(map(len, full.values())) >= len(everyone)  # not an empty graph
            for _ in range(20):
                family = set(rng.sample(sorted(everyone), rng.randint(1, 6)))
                candidates = family | set(rng.sample(sorted(everyone), rng.randint(1, 12)))
                links = service.circle_links(session, family, candidates)
                for account in candidates:
                    assert links.get(account, set()) & family == full.get(account, set()) & family


def test_per_query_circle_ranks_as_the_full_graph(ingested: tuple[Workspace, Path]) -> None:
    ws, root = ingested
    quick, full = KinService(ws), _FullCircle(ws)
    circles = 0
    for account in sorted(load_truth(root).owner_of):
        mine, reference = quick.kin(account, top=50), full.kin(account, top=50)
        assert [(r.account, r.score, r.reasons) for r in mine.relations] == [
            (r.account, r.score, r.reasons) for r in reference.relations
        ]
        circles += sum("of the person's family" in " ".join(r.reasons) for r in mine.relations)
    assert circles, "no family circle on the fixture gallery: the comparison would prove little"
