"""SMTP adapter (aiosmtplib). Every failure comes out as an SmtpError: temporary (retry later) or
permanent (give up). An address that is no address, or a non-ASCII one the server cannot take (no
SMTPUTF8), is permanent: sending it again can never work."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib

from app.config import SmtpSettings
from app.mail.addresses import InvalidAddress, envelope_address


@dataclass(frozen=True)
class SmtpEndpoint:
    host: str
    port: int
    security: Literal["tls", "starttls", "none"]
    username: str | None = None
    password: str | None = field(default=None, repr=False)


class SmtpError(Exception):
    pass


class SmtpTemporaryError(SmtpError):
    pass


class SmtpPermanentError(SmtpError):
    pass


async def send(
    endpoint: SmtpEndpoint,
    *,
    mail_from: str,
    rcpt_to: Sequence[str],
    raw: bytes,
    settings: SmtpSettings,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    try:
        sender = envelope_address(mail_from)
    except InvalidAddress as exc:
        raise SmtpPermanentError(f"invalid sender address: {exc}") from exc
    try:
        recipients = [envelope_address(rcpt) for rcpt in rcpt_to]
    except InvalidAddress as exc:
        raise SmtpPermanentError(f"invalid recipient address: {exc}") from exc
    if not recipients:
        raise SmtpPermanentError("the message has no recipient")
    utf8 = [e.address for e in (sender, *recipients) if e.needs_smtputf8]
    client = aiosmtplib.SMTP(
        hostname=endpoint.host,
        port=endpoint.port,
        use_tls=endpoint.security == "tls",
        start_tls=endpoint.security == "starttls",
        timeout=settings.timeout,
        tls_context=ssl_context,
    )
    try:
        await client.connect()
        if endpoint.username:
            await client.login(endpoint.username, endpoint.password or "")
        options: list[str] = []
        if utf8:
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
            if not client.supports_extension("smtputf8"):
                raise SmtpPermanentError(
                    f"the server {endpoint.host} does not offer SMTPUTF8, which the non-ASCII address {utf8[0]!r} needs"
                )
            options.append("SMTPUTF8")
        errors, _reply = await client.sendmail(
            sender.address, [r.address for r in recipients], raw, mail_options=options
        )
        refused = {rcpt: err for rcpt, err in errors.items()}
        if refused and len(refused) == len(recipients):
            raise _classify_codes([err.code for err in refused.values()], f"every recipient refused: {refused}")
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise _classify_codes([r.code for r in exc.recipients], f"recipients refused: {exc}") from exc
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise SmtpPermanentError(f"SMTP login refused for {endpoint.username}: {exc.code}") from exc
    except aiosmtplib.SMTPResponseException as exc:
        kind = SmtpPermanentError if 500 <= exc.code < 600 else SmtpTemporaryError
        raise kind(f"{exc.code} {exc.message}") from exc
    except aiosmtplib.SMTPNotSupported as exc:
        raise SmtpPermanentError(f"the server {endpoint.host} cannot take this message: {exc}") from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise SmtpTemporaryError(f"{type(exc).__name__}: {exc}") from exc
    except (ValueError, UnicodeError) as exc:
        # aiosmtplib's verdict on an address or option it cannot put on the wire: never better later.
        raise SmtpPermanentError(f"cannot be sent: {type(exc).__name__}: {exc}") from exc
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


def _classify_codes(codes: Sequence[int], detail: str) -> SmtpError:
    # Any 4xx means some recipient may still get it later: retry; all 5xx is final.
    if all(500 <= code < 600 for code in codes):
        return SmtpPermanentError(detail)
    return SmtpTemporaryError(detail)
