"""Users, roles and permission checks.

Each user has exactly one role. Permissions are granted per role in :data:`ROLE_PERMISSIONS`;
reviewing is deliberately given to the reviewer role alone (an admin manages the system but does
not confirm identifications), so that a confirmation always names someone whose job it is.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.db import utcnow
from nextofkin.errors import InputError, NotFound, PermissionDenied, PolicyViolation
from nextofkin.i18n import N_, _, label
from nextofkin.users.records import LoginSession, User

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


class Role(StrEnum):
    """What a user is there to do."""

    INVESTIGATOR = "investigator"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    # Records families' missing-person reports and sees only its own inquiries' results.
    INTAKE = "intake"


class Permission(StrEnum):
    """One kind of action a service checks before doing it."""

    MANAGE_USERS = "manage_users"
    OPEN_CASE = "open_case"
    SEARCH = "search"
    VIEW = "view"
    REVIEW = "review"
    DRAFT = "draft"
    SEND = "send"
    CLOSE_CASE = "close_case"
    PURGE = "purge"
    AUDIT = "audit"
    FILE_INQUIRY = "file_inquiry"


_COMMON = {Permission.OPEN_CASE, Permission.SEARCH, Permission.VIEW, Permission.AUDIT}


def role_label(role: object) -> str:
    """A role in the current language (the table is ``users.labels.ROLE_NAMES``)."""
    return label(ROLE_NAMES, role)


ROLE_NAMES: dict[str, str] = {
    Role.INVESTIGATOR: N_("investigator"),
    Role.REVIEWER: N_("reviewer"),
    Role.ADMIN: N_("admin"),
    Role.INTAKE: N_("intake"),
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.INVESTIGATOR: frozenset(_COMMON | {Permission.DRAFT, Permission.FILE_INQUIRY}),
    # Approving and sending a message to a family is a reviewer's decision, like confirming.
    Role.REVIEWER: frozenset(
        _COMMON
        | {
            Permission.DRAFT,
            Permission.REVIEW,
            Permission.SEND,
            Permission.CLOSE_CASE,
            Permission.FILE_INQUIRY,
        }
    ),
    Role.ADMIN: frozenset(
        _COMMON | {Permission.MANAGE_USERS, Permission.CLOSE_CASE, Permission.PURGE}
    ),
    # No VIEW: an intake user reaches cases only through the links of inquiries they filed.
    Role.INTAKE: frozenset({Permission.FILE_INQUIRY}),
}


@dataclass(frozen=True)
class UserInfo:
    """A user as the services hand it out (never the password hash)."""

    name: str
    role: Role
    active: bool
    has_password: bool
    created_at: datetime
    created_by: str | None

    @classmethod
    def of(cls, user: User) -> UserInfo:
        """The public view of a user row."""
        return cls(
            name=user.name,
            role=Role(user.role),
            active=user.active,
            has_password=user.password_hash is not None,
            created_at=user.created_at,
            created_by=user.created_by,
        )


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (with its own salt and parameters)."""
    from argon2 import PasswordHasher

    if len(password) < 8:
        raise InputError(_("a password needs at least 8 characters"))
    return PasswordHasher().hash(password)


def get_user(session: Session, name: str) -> User:
    """The user called ``name``, or :class:`NotFound`."""
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise NotFound(_("no user called %(name)r", name=name))
    return user


def require(session: Session, name: str | None, permission: Permission) -> User:
    """The acting user, after checking that they exist, are active and hold ``permission``.

    Raises :class:`PermissionDenied` when no user is named, the user is unknown or inactive, or
    their role does not grant the permission; the message says which.
    """
    if not name:
        raise PermissionDenied(
            _("no acting user: pass --user NAME or set NEXTOFKIN_USER (see `nextofkin user list`)")
        )
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise PermissionDenied(
            _("unknown user %(name)r: an admin adds users with `user add`", name=name)
        )
    if not user.active:
        raise PermissionDenied(_("user %(name)r is deactivated", name=name))
    if permission not in ROLE_PERMISSIONS[Role(user.role)]:
        raise PermissionDenied(
            _(
                "user %(name)r (%(role)s) may not %(permission)s",
                name=name,
                role=role_label(user.role),
                permission=permission.value,
            )
        )
    return user


def require_role(session: Session, name: str, role: Role) -> User:
    """The user ``name`` if they are active and have exactly ``role``, else PermissionDenied."""
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise PermissionDenied(_("unknown user %(name)r", name=name))
    if not user.active:
        raise PermissionDenied(_("user %(name)r is deactivated", name=name))
    if user.role != role:
        raise PermissionDenied(
            _(
                "user %(name)r is %(role)s, not %(wanted)s",
                name=name,
                role=role_label(user.role),
                wanted=role_label(role),
            )
        )
    return user


def parse_role(value: Role | str) -> Role:
    """The role ``value`` names; InputError listing the roles when it names none."""
    try:
        return Role(value)
    except ValueError as exc:
        choices = ", ".join(r.value for r in Role)
        raise InputError(
            _("unknown role %(role)r (choose from %(choices)s)", role=value, choices=choices)
        ) from exc


def _no_acting_user(session: Session, name: str, role: Role) -> PermissionDenied:
    """The refusal when a workspace has users and nobody is named: who may add, and how."""
    # A workspace someone else set up (the demo's, a colleague's) already has its admins:
    # say who may add users and the exact command, not only that nobody was named.
    admins = session.scalars(
        select(User.name).where(User.role == Role.ADMIN.value, User.active).order_by(User.id)
    ).all()
    example = admins[0] if admins else "ADMIN"
    return PermissionDenied(
        _(
            "no acting user: this workspace has users already, and only an admin "
            "adds more (admins: %(admins)s). Run as one: "
            "NEXTOFKIN_USER=%(example)s nextofkin user add %(name)s --role "
            "%(value)s",
            admins=", ".join(admins) or _("none active"),
            example=example,
            name=name,
            value=role.value,
        )
    )


def add_user(
    session: Session,
    actor: str | None,
    name: str,
    role: Role | str,
    *,
    password: str | None = None,
) -> UserInfo:
    """Create a user. The very first user must be an admin and needs no actor (bootstrap).

    After that only an admin may add users. The creation is written to the audit log.
    """
    role = parse_role(role)
    if not NAME_RE.match(name):
        raise InputError(_("bad user name %(name)r: letters, digits and . _ @ - only", name=name))
    count = session.scalar(select(func.count()).select_from(User)) or 0
    if count == 0:
        if role is not Role.ADMIN:
            raise PermissionDenied(_("the first user must be an admin (--role admin)"))
        creator = actor if actor == name else None
    elif not actor:
        raise _no_acting_user(session, name, role)
    else:
        creator = require(session, actor, Permission.MANAGE_USERS).name
    if session.scalars(select(User).where(User.name == name)).one_or_none() is not None:
        raise InputError(_("user %(name)r already exists", name=name))
    user = User(
        name=name,
        role=role.value,
        password_hash=hash_password(password) if password is not None else None,
        active=True,
        created_by=creator,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        creator or name,
        audit.Action.USER_ADD,
        f"user:{name}",
        {"role": role.value, "password": password is not None, "bootstrap": count == 0},
    )
    log.info("added user %s (%s)", name, role.value)
    return UserInfo.of(user)


def set_active(session: Session, actor: str | None, name: str, active: bool) -> UserInfo:
    """Deactivate or reactivate a user (admins only); users are never deleted, for the audit.

    Deactivating ends every web session of the user. The last active admin cannot be
    deactivated: nobody could then add users, purge, or reactivate anyone.
    """
    require(session, actor, Permission.MANAGE_USERS)
    user = get_user(session, name)
    if not active:
        _keep_an_admin(session, user, _("deactivate"))
    user.active = active
    revoked = 0 if active else revoke_sessions(session, name, "deactivated")
    audit.record(
        session,
        actor,
        audit.Action.USER_UPDATE,
        f"user:{name}",
        {"active": active, **({"sessions_ended": revoked} if not active else {})},
    )
    return UserInfo.of(user)


def set_role(session: Session, actor: str | None, name: str, role: Role | str) -> UserInfo:
    """Give a user another role (admins only; audited). The last active admin keeps theirs."""
    require(session, actor, Permission.MANAGE_USERS)
    role = parse_role(role)
    user = get_user(session, name)
    if role is not Role.ADMIN:
        _keep_an_admin(session, user, _("make %(role)s", role=role_label(role)))
    before = user.role
    user.role = role.value
    audit.record(
        session,
        actor,
        audit.Action.USER_UPDATE,
        f"user:{name}",
        {"role": role.value, "was": before},
    )
    return UserInfo.of(user)


def _keep_an_admin(session: Session, user: User, change: str) -> None:
    """Refuse ``change`` to ``user`` if it would leave no active admin.

    The active admins' rows are locked (``FOR UPDATE`` on PostgreSQL; SQLite has one writer at a
    time anyway) so two admins demoting each other at once cannot both succeed.
    """
    if user.role != Role.ADMIN.value or not user.active:
        return
    admins = session.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN.value, User.active.is_(True))
        .order_by(User.id)
        .with_for_update()
    ).all()
    if not [i for i in admins if i != user.id]:
        raise PolicyViolation(
            _(
                "cannot %(change)s %(name)r: the last active admin (add or activate "
                "another admin first)",
                change=change,
                name=user.name,
            )
        )


def revoke_sessions(session: Session, name: str, reason: str) -> int:
    """End every open web session of ``name``; how many were ended."""
    result = session.execute(
        update(LoginSession)
        .where(LoginSession.user_name == name, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def list_users(session: Session) -> list[UserInfo]:
    """Every user, by name."""
    return [UserInfo.of(u) for u in session.scalars(select(User).order_by(User.name))]


@cache
def _dummy_hash() -> str:
    """A hash of a password nobody knows, with the current parameters (made once, on first use)."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(secrets.token_urlsafe(24))


def verify_password(session: Session, name: str, password: str) -> bool:
    """Whether ``password`` is ``name``'s password (False for unknown or password-less users).

    An unknown, deactivated or password-less user is checked against a dummy hash, so every
    answer costs one argon2 verification and the time taken does not tell which names exist.
    """
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    stored = user.password_hash if user is not None and user.active else None
    try:
        matched: bool = PasswordHasher().verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        matched = False
    return stored is not None and matched
