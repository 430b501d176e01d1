"""API: messages to families: drafts, approval and sending, manual sends, releases."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from nextofkin.notify import service as notify
from nextofkin.web.deps import Drafter, Sender, StateDep, Viewer

router = APIRouter(prefix="/notify", tags=["notify"])


@dataclass(frozen=True)
class NotifyOptions:
    """What a message can be made of."""

    languages: list[str]
    default_language: str
    channels: list[str]
    attachments: list[str]


@router.get("/options", response_model=NotifyOptions, summary="Languages, channels, attachments")
def options(state: StateDep, actor: Viewer) -> NotifyOptions:
    """The choices the notification editor offers."""
    return NotifyOptions(
        [lang.value for lang in notify.Language],
        state.settings.notify.default_language,
        [c.value for c in notify.Channel],
        [a.value for a in notify.Attach],
    )


@router.get("", response_model=list[notify.MessageInfo], summary="The outbox")
def outbox(
    state: StateDep, actor: Viewer, case: str | None = Query(None, max_length=100)
) -> list[notify.MessageInfo]:
    """Messages of one case, or of every case."""
    with state.db() as session:
        return notify.outbox(session, actor.name, case)


class DraftRequest(BaseModel):
    """Messages to draft for a case with a confirmed identification."""

    case: str = Field(max_length=100)
    to: list[str] = Field(min_length=1, max_length=50, description="recipient accounts")
    channel: notify.Channel = notify.Channel.EMAIL
    attach: notify.Attach = notify.Attach.NONE
    language: notify.Language | None = None


@router.post(
    "/drafts",
    response_model=list[notify.MessageInfo],
    status_code=201,
    summary="Draft (or re-draft) messages; the draft is exactly what will be sent",
)
def draft(body: DraftRequest, state: StateDep, actor: Drafter) -> list[notify.MessageInfo]:
    """Write the draft for each recipient; messages already sent are returned untouched."""
    with state.db() as session:
        return notify.draft(
            session,
            state.workspace,
            actor.name,
            body.case,
            body.to,
            channel=body.channel,
            attach=body.attach,
            language=body.language,
        )


class SendRequest(BaseModel):
    """Which drafts of a case to approve and send (default: all)."""

    case: str = Field(max_length=100)
    to: list[str] | None = Field(None, max_length=50)


@router.post(
    "/send",
    response_model=list[notify.SendOutcome],
    summary="Approve and send drafts, at most once each (reviewers)",
)
def send(body: SendRequest, state: StateDep, actor: Sender) -> list[notify.SendOutcome]:
    """Approve the drafts and deliver them through the configured channel."""
    return notify.send(state.workspace, actor.name, body.case, body.to)


class MarkSentRequest(BaseModel):
    """A message a person delivered by hand, or found delivered."""

    case: str = Field(max_length=100)
    to: str = Field(max_length=400)
    note: str | None = Field(None, max_length=2000)


@router.post("/mark-sent", response_model=notify.SendOutcome, summary="Record a manual send")
def mark_sent(body: MarkSentRequest, state: StateDep, actor: Sender) -> notify.SendOutcome:
    """Record that an approved manual (or uncertain) message was delivered."""
    return notify.mark_sent(state.workspace, actor.name, body.case, body.to, body.note)


class ReleaseRequest(BaseModel):
    """A failed or uncertain message a person checked did not arrive."""

    case: str = Field(max_length=100)
    to: str = Field(max_length=400)
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/release", response_model=notify.MessageInfo, summary="Allow a checked resend")
def release(body: ReleaseRequest, state: StateDep, actor: Sender) -> notify.MessageInfo:
    """After checking it did not arrive, allow an uncertain or failed message to be sent again."""
    return notify.release(state.workspace, actor.name, body.case, body.to, body.reason)
