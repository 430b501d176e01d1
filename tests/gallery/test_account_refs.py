"""One account grammar, one resolver: ``platform-or-source/account``, a bare id, ``#<id>``."""

from __future__ import annotations

import pytest

from nextofkin.errors import InputError, NotFound
from nextofkin.gallery.accounts import parse_account_ref, resolve_account
from nextofkin.gallery.records import Account, Source
from nextofkin.workspace import Workspace


@pytest.fixture
def ids(workspace: Workspace) -> dict[str, int]:
    """``demo/Jack_Straw``; ``id1`` in source ``vk`` (platform vk) and ``id1`` in ``ok``;
    ``333`` both an id in the export and, maybe, another account's database id."""
    out: dict[str, int] = {}
    with workspace.session() as s:
        sources = {
            name: Source(name=name, root="/x", layout="folder") for name in ("demo", "vk", "ok")
        }
        s.add_all(sources.values())
        s.flush()
        rows = [
            ("demo", "Jack_Straw", None),
            ("vk", "id1", "vk"),
            ("ok", "id1", "ok"),
            ("demo", "only_here", None),
        ]
        for source, external, platform in rows:
            account = Account(source_id=sources[source].id, external_id=external, platform=platform)
            s.add(account)
            s.flush()
            out[f"{source}/{external}"] = account.id
    return out


def test_source_slash_account_and_platform_slash_account(
    workspace: Workspace, ids: dict[str, int]
) -> None:
    with workspace.session() as s:
        assert resolve_account(s, "demo/Jack_Straw").key == "demo/Jack_Straw"
        found = resolve_account(s, " vk/id1 ")
        assert found.account.id == ids["vk/id1"] and found.source == "vk"


def test_a_unique_bare_id_and_a_database_id(workspace: Workspace, ids: dict[str, int]) -> None:
    with workspace.session() as s:
        assert resolve_account(s, "Jack_Straw").key == "demo/Jack_Straw"
        jack = ids["demo/Jack_Straw"]
        assert resolve_account(s, f"#{jack}").key == "demo/Jack_Straw"
        # JSON output calls the database id `account_id`: digits alone name it too.
        assert resolve_account(s, str(ids["demo/only_here"])).key == "demo/only_here"


def test_an_ambiguous_reference_names_the_spellings_that_pick_one(
    workspace: Workspace, ids: dict[str, int]
) -> None:
    with workspace.session() as s, pytest.raises(InputError) as caught:
        resolve_account(s, "id1")
    assert "ok/id1" in str(caught.value) and "vk/id1" in str(caught.value)


def test_digits_that_are_an_export_id_and_another_database_id_are_ambiguous(
    workspace: Workspace, ids: dict[str, int]
) -> None:
    other = ids["demo/only_here"]
    with workspace.session() as s:
        s.add(
            Account(source_id=s.get_one(Account, other).source_id, external_id=str(ids["vk/id1"]))
        )
    with workspace.session() as s, pytest.raises(InputError, match="ambiguous"):
        resolve_account(s, str(ids["vk/id1"]))


@pytest.mark.parametrize("text", ["demo/nobody", "nobody", "#99999", "ok/Jack_Straw"])
def test_unknown_accounts_are_not_found(
    workspace: Workspace, ids: dict[str, int], text: str
) -> None:
    with workspace.session() as s, pytest.raises(NotFound, match="no account"):
        resolve_account(s, text)


@pytest.mark.parametrize("text", ["", "  ", "#x1"])
def test_malformed_references_are_bad_input(text: str) -> None:
    with pytest.raises(InputError):
        parse_account_ref(text)


def test_the_same_grammar_matches_stored_candidates() -> None:
    assert parse_account_ref("vk/id1").matches(7, "vk-export", "id1", "vk")
    assert parse_account_ref("7").matches(7, "demo", "x", None)
    assert parse_account_ref("#7").matches(7, "demo", "x", None)
    assert not parse_account_ref("ok/id1").matches(7, "vk", "id1", "vk")
