"""API tokens in the users layer (what the CLI and the web both call): made, listed, revoked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from nextofkin.audit.records import AuditEntry
from nextofkin.errors import NotFound, PermissionDenied
from nextofkin.users.records import ApiToken
from nextofkin.users.service import add_user
from nextofkin.users.tokens import TOKEN_PREFIX, create_token, hash_token, list_tokens, revoke_token
from nextofkin.workspace import Workspace


def test_tokens_are_stored_hashed_listed_by_owner_and_revoked(workspace: Workspace) -> None:
    with workspace.session() as s:
        add_user(s, None, "ada", "admin")
        add_user(s, "ada", "ivan", "investigator")
        add_user(s, "ada", "olga", "reviewer")
    with workspace.session() as s:
        made = create_token(s, "ivan", "ivan", "script")
        assert made.token.startswith(TOKEN_PREFIX) and made.info.user == "ivan"
        stored = s.scalars(select(ApiToken)).one()
        assert stored.token_sha256 == hash_token(made.token) and made.token not in stored.prefix
        with pytest.raises(PermissionDenied, match="only an admin"):
            create_token(s, "ivan", "olga", "not mine")
        create_token(s, "ada", "olga", "for olga")
        with pytest.raises(NotFound):
            create_token(s, "ada", "nobody", "x")
    with workspace.session() as s:
        assert [t.user for t in list_tokens(s, "ivan")] == ["ivan"]
        assert {t.user for t in list_tokens(s, "ada")} == {"ivan", "olga"}
        with pytest.raises(NotFound):
            revoke_token(s, "olga", made.info.id)  # someone else's token
        assert revoke_token(s, "ivan", made.info.id).revoked
    with workspace.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
        assert actions.count("web.token_create") == 2 and actions.count("web.token_revoke") == 1
