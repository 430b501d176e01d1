"""Users and roles: bootstrap, permission checks, argon2 passwords, the CLI acting user."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from nextofkin import audit
from nextofkin.cli import build_app
from nextofkin.errors import InputError, PermissionDenied, PolicyViolation
from nextofkin.users.service import (
    ROLE_PERMISSIONS,
    Permission,
    Role,
    add_user,
    list_users,
    require,
    set_active,
    set_role,
    verify_password,
)
from nextofkin.workspace import Workspace


def test_first_user_must_be_admin_then_only_admins_add(workspace: Workspace) -> None:
    with workspace.session() as s, pytest.raises(PermissionDenied, match="first user"):
        add_user(s, None, "ivan", "investigator")
    with workspace.session() as s:
        add_user(s, None, "ada", "admin")
        add_user(s, "ada", "ivan", Role.INVESTIGATOR)
    with workspace.session() as s:
        with pytest.raises(PermissionDenied, match="may not manage_users"):
            add_user(s, "ivan", "eve", "admin")
        with pytest.raises(PermissionDenied, match="no acting user"):
            add_user(s, None, "eve", "admin")
        with pytest.raises(InputError, match="unknown role"):
            add_user(s, "ada", "eve", "boss")
        with pytest.raises(InputError, match="already exists"):
            add_user(s, "ada", "ivan", "reviewer")
    with workspace.session() as s:
        assert [(u.name, u.role) for u in list_users(s)] == [
            ("ada", Role.ADMIN),
            ("ivan", Role.INVESTIGATOR),
        ]
        assert [e.action for e in audit.entries(s)] == ["user.add", "user.add"]


def test_role_permissions(workspace: Workspace) -> None:
    with workspace.session() as s:
        add_user(s, None, "ada", "admin")
        for name, role in (("ivan", "investigator"), ("rita", "reviewer")):
            add_user(s, "ada", name, role)
        for name, role in (
            ("ada", Role.ADMIN),
            ("ivan", Role.INVESTIGATOR),
            ("rita", Role.REVIEWER),
        ):
            for permission in Permission:
                if permission in ROLE_PERMISSIONS[role]:
                    assert require(s, name, permission).name == name
                else:
                    with pytest.raises(PermissionDenied):
                        require(s, name, permission)
        # Confirming and sending belong to reviewers alone; purging and users to admins alone.
        assert {r for r in Role if Permission.REVIEW in ROLE_PERMISSIONS[r]} == {Role.REVIEWER}
        assert {r for r in Role if Permission.SEND in ROLE_PERMISSIONS[r]} == {Role.REVIEWER}
        assert {r for r in Role if Permission.PURGE in ROLE_PERMISSIONS[r]} == {Role.ADMIN}
        set_active(s, "ada", "rita", False)
        with pytest.raises(PermissionDenied, match="deactivated"):
            require(s, "rita", Permission.VIEW)


def test_argon2_password(workspace: Workspace) -> None:
    from nextofkin.users.records import User

    with workspace.session() as s:
        add_user(s, None, "ada", "admin", password="correct horse battery")
        with pytest.raises(InputError, match="8 characters"):
            add_user(s, "ada", "ivan", "investigator", password="short")
    with workspace.session() as s:
        stored = s.query(User).filter_by(name="ada").one().password_hash
        assert stored is not None and stored.startswith("$argon2id$")
        assert "correct horse" not in stored
        assert verify_password(s, "ada", "correct horse battery")
        assert not verify_password(s, "ada", "correct horse")
        assert not verify_password(s, "nobody", "correct horse battery")


def test_cli_user_add_and_list(workspace: Workspace) -> None:
    runner = CliRunner()
    base = ["--workspace", str(workspace.home)]
    app = build_app()
    out = runner.invoke(app, [*base, "user", "add", "ada", "--role", "admin"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(
        app,
        [*base, "--user", "ada", "user", "add", "rita", "--role", "reviewer", "--password-stdin"],
        input="s3cret-pass\n",
    )
    assert out.exit_code == 0, out.output
    out = runner.invoke(
        app, [*base, "user", "add", "eve", "--role", "admin"], env={"NEXTOFKIN_USER": "rita"}
    )
    assert out.exit_code == 1 and "PermissionDenied" in out.output
    out = runner.invoke(app, [*base, "--user", "ada", "user", "list", "--json"])
    assert '"name": "rita"' in out.output and '"has_password": true' in out.output
    with workspace.session() as s:
        assert verify_password(s, "rita", "s3cret-pass")


def test_last_admin_cannot_be_deactivated(workspace: Workspace) -> None:
    with workspace.session() as s:
        add_user(s, None, "ada", "admin")
        add_user(s, "ada", "ivan", "investigator")
    with workspace.session() as s:
        with pytest.raises(PolicyViolation, match="last active admin"):
            set_active(s, "ada", "ada", False)
        with pytest.raises(PolicyViolation, match="last active admin"):
            set_role(s, "ada", "ada", "reviewer")
    with workspace.session() as s:
        add_user(s, "ada", "bea", "admin")
    with workspace.session() as s:
        set_active(s, "bea", "ada", False)  # another active admin remains: allowed
        with pytest.raises(PolicyViolation, match="last active admin"):
            set_active(s, "bea", "bea", False)
    with workspace.session() as s:
        assert {u.name: u.active for u in list_users(s)} == {
            "ada": False,
            "bea": True,
            "ivan": True,
        }


def test_user_activate_brings_a_user_back(workspace: Workspace) -> None:
    runner = CliRunner()
    base = ["--workspace", str(workspace.home), "--user", "ada"]
    app = build_app()
    assert runner.invoke(app, [*base, "user", "add", "ada", "--role", "admin"]).exit_code == 0
    assert runner.invoke(app, [*base, "user", "add", "bea", "--role", "admin"]).exit_code == 0
    out = runner.invoke(app, [*base, "user", "deactivate", "ada"])
    assert out.exit_code == 0, out.output  # bea is still an active admin
    out = runner.invoke(
        app, ["--workspace", str(workspace.home), "--user", "bea", "user", "activate", "ada"]
    )
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, [*base, "user", "role", "bea", "--role", "reviewer"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, [*base, "user", "deactivate", "ada"])  # now the last admin
    assert out.exit_code == 1 and "last active admin" in out.output
    with workspace.session() as s:
        assert {u.name: (u.role.value, u.active) for u in list_users(s)} == {
            "ada": ("admin", True),
            "bea": ("reviewer", True),
        }


def test_deactivation_ends_web_sessions(workspace: Workspace) -> None:
    from nextofkin.users.records import LoginSession
    from nextofkin.web import sessions

    with workspace.session() as s:
        add_user(s, None, "ada", "admin")
        add_user(s, "ada", "ivan", "investigator")
        lifetimes = sessions.Lifetimes.of(workspace.settings.web)
        sessions.create(s, None, lifetimes, user="ivan", data={})
        sessions.create(s, None, lifetimes, user="ada", data={})
    with workspace.session() as s:
        set_active(s, "ada", "ivan", False)
    with workspace.session() as s:
        rows = {r.user_name: r.revoked_reason for r in s.scalars(select(LoginSession))}
        assert rows == {"ivan": "deactivated", "ada": None}
