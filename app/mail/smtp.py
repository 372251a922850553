"""SMTP adapter (aiosmtplib). Every failure comes out as an SmtpError: temporary (retry later) or
permanent (give up). An address that is no address, or a non-ASCII one the server cannot take (no
SMTPUTF8), is permanent: sending it again can never work."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, quote, unquote

import aiosmtplib

from app.config import SmtpSettings
from app.mail.addresses import InvalidAddress, envelope_address
from app.mail.checks import CheckFailure
from app.mail.server_url import Security, split_server_url


@dataclass(frozen=True)
class SmtpEndpoint:
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def to_url(self, *, with_password: bool = True) -> str:
        scheme = "smtps" if self.security == "tls" else "smtp"
        host = f"[{self.host}]" if ":" in self.host else self.host
        credentials = ""
        if self.username:
            password = ""
            if self.password:
                password = ":" + (quote(self.password, safe="") if with_password else "***")
            credentials = f"{quote(self.username, safe='')}{password}@"
        query = "?tls=starttls" if self.security == "starttls" else ""
        return f"{scheme}://{credentials}{host}:{self.port}{query}"

    def __str__(self) -> str:
        return self.to_url(with_password=False)


_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


def parse_smtp_url(url: str) -> SmtpEndpoint:
    """smtp://[USER[:PASS]@]HOST[:PORT], plain unless `?tls=starttls`; smtps:// is implicit TLS.

    As for IMAP URLs (app/mail/imap/url.py): plain never upgrades on its own, user and password are
    percent-decoded, and errors never quote the password."""
    split = split_server_url(url, protocol="SMTP", ports=_DEFAULT_PORTS, check_parts=_no_path)
    parts = split.parts
    username = unquote(parts.username) if parts.username else None
    if parts.password is not None and not username:
        raise ValueError("SMTP URL has a password but no user")
    password = unquote(parts.password) if parts.password else None
    return SmtpEndpoint(host=split.host, port=split.port, security=split.security, username=username, password=password)


def _no_path(parts: SplitResult) -> None:
    if parts.fragment or parts.path not in ("", "/"):
        raise ValueError("SMTP URL must have no path or #fragment (smtp://USER:PASS@HOST:PORT)")


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
        await _hang_up(client)


async def check(endpoint: SmtpEndpoint, *, step_seconds: float, ssl_context: ssl.SSLContext | None = None) -> None:
    """Connect, EHLO, STARTTLS when the endpoint asks for it, AUTH when it has credentials, QUIT.
    Raises CheckFailure with the exact reason."""
    where = f"{endpoint.host}:{endpoint.port}"
    client = aiosmtplib.SMTP(
        hostname=endpoint.host,
        port=endpoint.port,
        use_tls=endpoint.security == "tls",
        start_tls=False,
        timeout=step_seconds,
        tls_context=ssl_context,
    )
    stage = "connect"
    try:
        async with asyncio.timeout(step_seconds * 4):
            await client.connect()
            stage = "EHLO"
            await client.ehlo()
            if endpoint.security == "starttls":
                stage = "STARTTLS"
                if not client.supports_extension("starttls"):
                    raise CheckFailure("TLS failure", f"{where} does not offer STARTTLS")
                await client.starttls()
                await client.ehlo()
            if endpoint.username:
                stage = "AUTH"
                await client.login(endpoint.username, endpoint.password or "")
    except CheckFailure:
        raise
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise CheckFailure(
            "login refused", f"{where} refused {endpoint.username!r}: {exc.code} {exc.message}"
        ) from None
    except (aiosmtplib.SMTPConnectTimeoutError, aiosmtplib.SMTPTimeoutError, TimeoutError):
        raise CheckFailure("timed out", f"{stage} to {where} took longer than {step_seconds:g}s") from None
    except ssl.SSLError as exc:
        raise CheckFailure("TLS failure", f"{stage} with {where}: {exc.reason or exc}") from None
    except aiosmtplib.SMTPConnectError as exc:
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLError):
            raise CheckFailure("TLS failure", f"{stage} with {where}: {cause.reason or cause}") from None
        raise CheckFailure("refused", f"cannot connect to {where}: {_cause_text(exc)}") from None
    except aiosmtplib.SMTPNotSupported as exc:
        kind = "login refused" if stage == "AUTH" else "TLS failure" if stage == "STARTTLS" else "error"
        raise CheckFailure(kind, f"{stage} on {where}: {exc}") from None
    except aiosmtplib.SMTPResponseException as exc:
        kind = "TLS failure" if stage == "STARTTLS" else "login refused" if stage == "AUTH" else "refused"
        raise CheckFailure(kind, f"{stage} on {where}: {exc.code} {exc.message}") from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        kind = "TLS failure" if stage == "STARTTLS" else "refused"
        raise CheckFailure(kind, f"{stage} on {where}: {_cause_text(exc)}") from None
    finally:
        await _hang_up(client)


async def _hang_up(client: aiosmtplib.SMTP) -> None:
    """QUIT politely; a server that has gone or will not answer is simply disconnected."""
    if client.is_connected:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()


def _cause_text(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(exc) or type(exc).__name__


def _classify_codes(codes: Sequence[int], detail: str) -> SmtpError:
    # Any 4xx means some recipient may still get it later: retry; all 5xx is final.
    if all(500 <= code < 600 for code in codes):
        return SmtpPermanentError(detail)
    return SmtpTemporaryError(detail)
