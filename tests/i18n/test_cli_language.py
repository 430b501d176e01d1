"""The CLI in the language asked for: --language, NEXTOFKIN_LANGUAGE, a report's own language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cases.casework import FakeIdentify, add_team, candidate, photo
from nextofkin import i18n
from nextofkin.cases.service import identify_for_case
from nextofkin.cli import build_app
from nextofkin.cli.common import console
from nextofkin.workspace import Workspace


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    """A command sets the language of its process; give the next test English back."""
    yield
    i18n.set_language(None)


@pytest.fixture
def ws(workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    with workspace.session() as s:
        add_team(s)
    engine = FakeIdentify(
        [candidate(1, "olena", 0.93, "match"), candidate(2, "maria", 0.74, "possible")]
    )
    identify_for_case(workspace, "ivan", "K-1", [photo(tmp_path / "body.jpg")], service=engine)
    monkeypatch.setattr(console, "width", 400)  # one line per table row
    return workspace


def run(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(
        build_app(), ["--workspace", str(ws.home), "--user", "rita", *args], env=env
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, re.sub(r"[\u00a0\u202f]", " ", result.output)


def test_case_show_in_the_language_asked_for(ws: Workspace) -> None:
    code, english = run(ws, "case", "show", "K-1")
    assert code == 0 and "state: searched" in english and "strong match" in english
    assert "against this gallery of 1,000 accounts about 1 time in 2,000" in english
    code, ukrainian = run(ws, "--language", "uk", "case", "show", "K-1")
    assert code == 0 and "справа K-1" in ukrainian and "стан: пошук виконано" in ukrainian
    assert "впевнений збіг" in ukrainian and "можливий збіг" in ukrainian
    assert "у цій галереї, де 1 000 облікових записів приблизно 1 раз із 2 000" in ukrainian
    assert "stranger" not in ukrainian
    code, from_env = run(ws, "case", "show", "K-1", env={"NEXTOFKIN_LANGUAGE": "uk"})
    assert code == 0 and "стан: пошук виконано" in from_env
    # A locale name as the system writes it means its language.
    code, from_env = run(ws, "case", "show", "K-1", env={"NEXTOFKIN_LANGUAGE": "uk_UA.UTF-8"})
    assert code == 0 and "стан: пошук виконано" in from_env


def test_json_machine_fields_stay_english(ws: Workspace) -> None:
    import json

    code, out = run(ws, "--language", "uk", "case", "show", "K-1", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["state"] == "searched"
    candidates = data["searches"][0]["candidates"]
    assert [c["decision"] for c in candidates] == ["match", "possible"]
    assert [c["fpir"] for c in candidates] == [0.0005, 0.02]
    # The human-readable field is in the command's language, as the table says it.
    assert "приблизно 1 раз із 2" in candidates[0]["meaning"].replace("\u00a0", " ")


def test_an_unknown_language_is_refused(ws: Workspace) -> None:
    code, out = run(ws, "--language", "xx", "case", "show", "K-1")
    assert code == 2 and "unknown language xx" in out


def test_report_in_its_own_language(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    code, said = run(ws, "case", "report", "K-1", "--language", "uk", "--out", str(out))
    assert code == 0 and said.startswith("report written to")  # the command speaks English
    html = re.sub(r"[\u00a0\u202f]", " ", out.read_text(encoding="utf-8"))
    assert '<html lang="uk">' in html
    assert "Справа K-1 — звіт про ідентифікацію" in html and "Що означають бали" in html
    assert "у цій галереї, де 1 000 облікових записів приблизно 1 раз із 2 000" in html
    assert "Search 1" not in html and "a stranger scores" not in html
    code, _said = run(ws, "case", "report", "K-1", "--out", str(out))
    english = out.read_text(encoding="utf-8")
    assert '<html lang="en">' in english and "Case K-1 — identification report" in english


def test_user_language_from_the_cli(ws: Workspace) -> None:
    from nextofkin.users.preferences import get_language

    code, out = run(ws, "user", "language", "rita", "uk")
    assert code == 0 and "rita's pages: Ukrainian" in out
    code, out = run(ws, "user", "language", "ivan", "uk")  # rita is no admin
    assert code == 1 and out.startswith("Error (PermissionDenied)")
    code, out = run(ws, "user", "language", "rita", "xx")
    assert code == 1 and "unknown language xx" in out
    with ws.session() as s:
        assert get_language(s, "rita") == "uk" and get_language(s, "ivan") is None
    code, out = run(ws, "user", "language", "rita", "browser")
    with ws.session() as s:
        assert code == 0 and get_language(s, "rita") is None


def test_errors_in_the_language_asked_for(ws: Workspace) -> None:
    code, out = run(ws, "--language", "uk", "case", "show", "NOPE")
    # The kind is a machine field (scripts grep it); the message is for the person.
    assert code == 1 and out.startswith("Error (NotFound): немає справи 'NOPE'")
    code, out = run(ws, "case", "show", "NOPE")
    assert code == 1 and out.startswith("Error (NotFound): no case 'NOPE'")


def test_help_in_the_language_asked_for() -> None:
    from nextofkin.cli import language_asked

    assert language_asked(["--language", "uk", "case", "--help"], None) == "uk"
    assert language_asked(["--language=ru", "--help"], "uk") == "ru"
    assert language_asked(["case", "list"], "uk") == "uk"
    with i18n.use_language("uk"):
        app = build_app()  # help is written when the app is built, as main() does
    shown = CliRunner().invoke(app, ["--help"], terminal_width=200).output
    assert "Мова повідомлень і звітів" in shown and "Користувач, від імені якого" in shown


def test_command_help_is_translated_when_shown() -> None:
    """A command's help is a lazy string, written when Typer builds the click command at the
    start of a run: main() chooses the language before, as this test does."""
    app = build_app()
    with i18n.use_language("uk"):
        shown = (
            CliRunner()
            .invoke(app, ["--language", "uk", "case", "report", "--help"], terminal_width=200)
            .output
        )
    assert "Записати звіт справи" in shown and "Номер справи." in shown
    english = CliRunner().invoke(app, ["case", "report", "--help"], terminal_width=200).output
    assert "Write the case report" in english
