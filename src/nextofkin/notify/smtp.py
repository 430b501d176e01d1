"""The e-mail channel: one SMTP transaction per message, with failures sorted by what they mean.

Whether a failed attempt may be retried depends on *where* it failed:

* before the message body went out (connection refused, TLS or greeting trouble, a 4xx reply to
  MAIL, RCPT or DATA): nothing was accepted, so a retry cannot duplicate the message
  (:class:`TemporaryDeliveryError`), unless the reply was 5xx (:class:`PermanentDeliveryError`);
* after the body went out but before the server's reply arrived (connection lost, timeout): the
  server may have accepted it. That is :class:`UncertainDeliveryError`, never retried;
* a 4xx/5xx reply to the body itself means the server did not accept it (RFC 5321 §4.2.5).

Commands are sent one by one (not ``sendmail``) precisely to know that phase.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from pathlib import Path

from nextofkin.errors import (
    PermanentDeliveryError,
    TemporaryDeliveryError,
    UncertainDeliveryError,
)
from nextofkin.i18n import gettext
from nextofkin.settings import SmtpSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attachment:
    """A file attached to a message."""

    path: Path
    filename: str
    mime: str = "image/jpeg"


@dataclass(frozen=True)
class OutgoingMessage:
    """Everything a channel needs to deliver one message."""

    to_address: str
    to_name: str | None
    subject: str
    body: str
    message_id: str
    idempotency_key: str
    case_number: str
    language: str
    attachment: Attachment | None = None


@dataclass(frozen=True)
class DeliveryReceipt:
    """What the server said when it accepted a message."""

    reply: str


def build_email(message: OutgoingMessage, sender: str) -> EmailMessage:
    """The MIME message: UTF-8 text, an optional attachment, and a Message-ID from the key."""
    mail = EmailMessage(policy=SMTP_POLICY)
    mail["From"] = sender
    # The standard library quotes the display name and encodes it; a name with quotes, commas
    # or line breaks can neither break the header nor add a recipient.
    mail["To"] = Address(
        display_name=" ".join((message.to_name or "").split()), addr_spec=message.to_address
    )
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    # Derived from the idempotency key: a duplicate (if one ever went out) carries the same id,
    # so mail systems can drop it and a person can search logs for it.
    mail["Message-ID"] = message.message_id
    mail["Content-Language"] = message.language
    mail["X-NextOfKin-Case"] = message.case_number
    mail["X-NextOfKin-Key"] = message.idempotency_key
    mail.set_content(message.body, charset="utf-8")
    if message.attachment is not None:
        maintype, _, subtype = message.attachment.mime.partition("/")
        mail.add_attachment(
            message.attachment.path.read_bytes(),
            maintype=maintype,
            subtype=subtype,
            filename=message.attachment.filename,
        )
    return mail


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.ca_file)


def _classify(code: int, reply: bytes | str, stage: str) -> Exception:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    detail = f"{stage}: {code} {text}".strip()
    if 400 <= code < 500:
        return TemporaryDeliveryError(detail)
    return PermanentDeliveryError(detail)


_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")


@dataclass
class _Progress:
    """How far a delivery got: the SMTP stage that failed, and whether the body went out (from
    then on the server may hold the message, so a lost connection leaves it uncertain)."""

    stage: str = "connect"
    body_sent: bool = False


def _envelope(smtp: smtplib.SMTP, progress: _Progress, sender: str, to: str) -> None:
    """MAIL FROM, RCPT TO and DATA, each checked for the reply that lets the next one go."""
    progress.stage = "MAIL FROM"
    code, reply = smtp.mail(sender)
    if code != 250:
        raise _classify(code, reply, progress.stage)
    progress.stage = "RCPT TO"
    code, reply = smtp.rcpt(to)
    if code not in (250, 251):
        raise _classify(code, reply, progress.stage)
    progress.stage = "DATA"
    code, reply = smtp.docmd("DATA")
    if code != 354:
        raise _classify(code, reply, progress.stage)


def _send_body(smtp: smtplib.SMTP, progress: _Progress, payload: bytes) -> DeliveryReceipt:
    """The message itself, dot-stuffed, and the server's verdict on it."""
    progress.stage = "message body"
    data = _DOT_AT_LINE_START.sub(b"..", payload)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    progress.body_sent = True  # from here on the server may hold the message
    smtp.send(data + b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        # An explicit refusal of the body means it was not accepted: safe to judge.
        raise _classify(code, reply, "end of data")
    return DeliveryReceipt(f"{code} {reply.decode('utf-8', 'replace')}")


class SmtpChannel:
    """Delivers messages through the SMTP server in the settings (none, STARTTLS or SSL; AUTH)."""

    channel = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.tls == "ssl":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=_tls_context(s))
        return smtplib.SMTP(s.host, s.port, timeout=s.timeout)

    def deliver(self, message: OutgoingMessage) -> DeliveryReceipt:
        """Send one message; raise Temporary/Permanent/UncertainDeliveryError on failure."""
        s = self.settings
        payload = build_email(message, s.sender).as_bytes()
        progress = _Progress()
        try:
            smtp = self._connect()
            try:
                self._greet(smtp, progress)
                _envelope(smtp, progress, s.sender, message.to_address)
                receipt = _send_body(smtp, progress, payload)
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        except smtplib.SMTPAuthenticationError as exc:
            raise _classify(exc.smtp_code, exc.smtp_error, "AUTH") from exc
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error, progress.stage) from exc
        except (TemporaryDeliveryError, PermanentDeliveryError):
            raise
        except ssl.SSLCertVerificationError as exc:
            raise PermanentDeliveryError(
                gettext(
                    "%(stage)s: server certificate not trusted: %(exc)s",
                    stage=progress.stage,
                    exc=exc,
                )
            ) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise self._lost(progress.stage, progress.body_sent, exc) from exc
        except smtplib.SMTPException as exc:
            # No STARTTLS, no usable AUTH method and the like: settings to fix, not to retry.
            raise PermanentDeliveryError(
                gettext("%(stage)s: %(exc)s", stage=progress.stage, exc=exc)
            ) from exc
        except OSError as exc:
            raise self._lost(progress.stage, progress.body_sent, exc) from exc
        log.info("delivered %s to %s: %s", message.message_id, message.to_address, receipt.reply)
        return receipt

    def _greet(self, smtp: smtplib.SMTP, progress: _Progress) -> None:
        """EHLO, then STARTTLS and AUTH as the settings ask."""
        s = self.settings
        progress.stage = "EHLO"
        code, reply = smtp.ehlo()
        if code != 250:
            raise _classify(code, reply, progress.stage)
        if s.tls == "starttls":
            progress.stage = "STARTTLS"
            code, reply = smtp.starttls(context=_tls_context(s))
            if code != 220:
                raise _classify(code, reply, progress.stage)
            smtp.ehlo()
        if s.user:
            progress.stage = "AUTH"
            if s.tls == "none":
                log.warning("SMTP AUTH over an unencrypted connection to %s", s.host)
            smtp.login(s.user, s.password.get_secret_value() if s.password else "")

    @staticmethod
    def _lost(stage: str, body_sent: bool, exc: Exception) -> Exception:
        """A lost or refused connection: uncertain once the body went out, else temporary."""
        if body_sent:
            return UncertainDeliveryError(
                gettext(
                    "connection lost after the message body was sent (%(exc)s): it may "
                    "have been delivered",
                    exc=exc,
                )
            )
        return TemporaryDeliveryError(
            gettext("%(stage)s: %(kind)s: %(exc)s", stage=stage, kind=type(exc).__name__, exc=exc)
        )
