"""SMTP adapter (aiosmtplib). Failures come out as temporary (retry later) or permanent (give up)."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib

from app.config import SmtpSettings


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
        errors, _reply = await client.sendmail(mail_from, list(rcpt_to), raw)
        refused = {rcpt: err for rcpt, err in errors.items()}
        if refused and len(refused) == len(rcpt_to):
            raise _classify_codes([err.code for err in refused.values()], f"every recipient refused: {refused}")
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise _classify_codes([r.code for r in exc.recipients], f"recipients refused: {exc}") from exc
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise SmtpPermanentError(f"SMTP login refused for {endpoint.username}: {exc.code}") from exc
    except aiosmtplib.SMTPResponseException as exc:
        kind = SmtpPermanentError if 500 <= exc.code < 600 else SmtpTemporaryError
        raise kind(f"{exc.code} {exc.message}") from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise SmtpTemporaryError(f"{type(exc).__name__}: {exc}") from exc
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
