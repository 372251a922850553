from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ImapSettings(BaseModel):
    connect_timeout: float = Field(15.0, gt=0)
    # Each step of `mailbox add` / `mailbox test`'s check (connect, login, select): short, a person waits.
    check_timeout: float = Field(10.0, gt=0)
    command_timeout: float = Field(60.0, gt=0)
    # UIDs fetched per round trip and committed per transaction.
    fetch_batch: int = Field(200, ge=1, le=5000)
    # RFC 2177 says servers may drop an IDLE after 30 minutes, so re-issue it before that.
    idle_seconds: float = Field(29 * 60, gt=0, le=29 * 60)
    # How often the worker looks for new mail on the connection it keeps open: every poll without
    # IDLE; with IDLE, the longest between two looks, should the server's push go missing.
    poll_interval: float = Field(60.0, gt=0)
    # Reconnecting after failures: initial delay, doubled per failure up to backoff_max. It starts
    # over only once a connection has worked for backoff_reset_seconds, not after every sync.
    backoff_initial: float = Field(1.0, gt=0)
    backoff_max: float = Field(300.0, gt=0)
    backoff_reset_seconds: float = Field(60.0, gt=0)
    # A worker holds a mailbox by a lease it renews every lease_heartbeat_seconds (at most a third of
    # the lease) while it works, syncing or idling; a worker that died loses it lease_seconds after
    # its last renewal, and another worker takes over.
    lease_seconds: float = Field(30.0, ge=1)
    lease_heartbeat_seconds: float = Field(10.0, gt=0)

    @property
    def heartbeat_seconds(self) -> float:
        return min(self.lease_heartbeat_seconds, self.lease_seconds / 3)

    @property
    def lease_check_seconds(self) -> float:
        """How often a worker that does not hold a mailbox's lease looks whether it ran out."""
        return self.lease_seconds / 4

    @property
    def takeover_seconds(self) -> float:
        """The longest a crashed worker's mailbox waits for another worker: its lease runs out, then
        the next look (with jitter up to 1.2 times the check interval) finds it free."""
        return self.lease_seconds + self.lease_check_seconds * 1.2


class IngestSettings(BaseModel):
    # A message larger than this is kept raw (truncated to the limit), flagged and shown to admins.
    max_message_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    # Attachments larger than this keep their metadata but not their content.
    max_attachment_bytes: int = Field(10 * 1024 * 1024, ge=0)
    # After the commit: "none" leaves the server as it was, "seen" sets \Seen, "move:FOLDER" moves.
    after_ingest: str = "none"
    # Processes that parse mail beside the one that talks IMAP and SQL; 0 parses in-process.
    parse_workers: int = Field(1, ge=0, le=32)
    ticket_prefix: str = Field("RD", pattern=r"^[A-Z]{2,8}$")
    # A reply by subject alone (no headers, no token) threads only into a recent open ticket.
    subject_thread_days: int = Field(14, ge=0)
    # Sender trust (issue 14, mailtext/trust.py). The authserv-ids (the first word of an
    # Authentication-Results header) of the organisation's own MTAs: only their headers are read, every
    # other one is ignored, as anyone can write one. From the environment: a JSON list
    # (["mx.example.com"]) or comma-separated (mx1.example.com,mx2.example.com).
    trusted_authserv_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Verify DKIM signatures here too (dkimpy, keys from DNS cached in each parse worker).
    verify_dkim: bool = False

    @field_validator("trusted_authserv_ids", mode="before")
    @classmethod
    def _authserv_ids(cls, value: object) -> object:
        # "mx1.example.com, mx2.example.com" (what the environment gives when the value is not JSON)
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if isinstance(value, list):
            value = [item.strip().lower() if isinstance(item, str) else item for item in value]
            return [item for item in value if item != ""]
        return value

    @field_validator("after_ingest")
    @classmethod
    def _after_ingest(cls, value: str) -> str:
        if value in ("none", "seen") or (value.startswith("move:") and len(value) > 5):
            return value
        raise ValueError("after_ingest must be 'none', 'seen' or 'move:FOLDER'")


class TicketSettings(BaseModel):
    # A customer's message this long after a ticket was solved starts a new ticket linked to it.
    reopen_days: float = Field(14.0, ge=0)
    # Acknowledgements one address may get per hour: a guard against mail loops.
    acknowledgements_per_hour: int = Field(3, ge=0)
    team_name: str = Field("The support team", max_length=200)
    # The breach recorder sleeps until the nearest SLA due time, but never longer than this: a due
    # time moved earlier by another process is seen within it.
    sla_breach_tick_seconds: float = Field(30.0, gt=0, le=3600)
    # A new ticket from a customer in an area within this many days of one of theirs solved there is a
    # repeat contact, linked to the solved one (`ticket.repeat_of_ticket_id`).
    repeat_contact_days: float = Field(7.0, ge=0, le=365)


class CsatSettings(BaseModel):
    # At most one survey per customer in this many days: a customer with three tickets solved in a week
    # is asked once.
    survey_per_customer_days: float = Field(7.0, ge=0, le=365)
    # How long a survey's links take a rating (and a changed one) after the survey is sent.
    rating_days: float = Field(7.0, gt=0, le=90)
    # A ticket solved longer ago than its area's survey delay plus this gets no survey: a worker that was
    # down for a month, or the first start on an old database, does not survey the past.
    survey_late_days: float = Field(3.0, gt=0, le=90)
    # The survey scheduler looks for due surveys this often.
    tick_seconds: float = Field(60.0, gt=0, le=3600)
    # Surveys written per transaction.
    batch: int = Field(100, ge=1, le=10_000)


class AttachmentSettings(BaseModel):
    """Files agents attach to their replies (inbound attachments are bounded by
    ingest.max_attachment_bytes). A reply over them is refused whole: nothing is queued."""

    max_reply_files: int = Field(10, ge=0, le=100)
    max_reply_file_bytes: int = Field(10 * 1024 * 1024, ge=0)
    max_reply_bytes: int = Field(25 * 1024 * 1024, ge=0)


class SmtpSettings(BaseModel):
    timeout: float = Field(30.0, gt=0)
    # Each step of `mailbox add` / `mailbox test`'s check (connect, EHLO, STARTTLS, AUTH).
    check_timeout: float = Field(10.0, gt=0)
    batch: int = Field(20, ge=1, le=500)
    poll_interval: float = Field(1.0, gt=0)
    retry_initial: float = Field(30.0, gt=0)
    retry_max: float = Field(3600.0, gt=0)
    # Sends of one message, counted when a sender claims it (so one whose sender died mid-send counts
    # too); past it the message fails, shown on its ticket.
    max_attempts: int = Field(8, ge=1)
    # A row claimed by a sender that then died is sent again (same bytes) after this long. A live
    # sender renews the lease of the rows it still holds every send_heartbeat_seconds, so a slow batch
    # keeps its rows and a dead sender's rows are taken over within send_lease_seconds.
    send_lease_seconds: float = Field(30.0, gt=0)
    send_heartbeat_seconds: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> SmtpSettings:
        if self.send_heartbeat_seconds * 2 > self.send_lease_seconds:
            raise ValueError("send_heartbeat_seconds must be at most half of send_lease_seconds")
        return self


_PUBLIC_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?")
_REPLY_PATH = re.compile(r"^/api/v1/tickets/[0-9]+/reply/?$")
# Room a multipart reply needs beside its files: each part's headers and boundary.
MULTIPART_PART_OVERHEAD = 4096


class HttpSettings(BaseModel):
    """Limits the API puts on requests before any handler runs, and the failed-authentication throttle."""

    # Request bodies over these are refused with 413 before they are read, by class of route. The
    # agents' largest body, a 50,000-character reply, is under 600 KB even with every character
    # JSON-escaped; the admin routes (macros, mailboxes, areas, rules) get room for bulk payloads;
    # the console's forms (/console/) get the agents' limit, since a reply is posted there too; nothing
    # else outside /api/v1 (health checks, the schema, the docs) takes more than a small form.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    max_admin_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    max_other_body_bytes: int = Field(16 * 1024, ge=0)
    # A JSON body with more entries (object keys plus array items, at every level) or deeper nesting is
    # refused before validation: each entry costs the validator time and the refusal an error.
    max_json_entries: int = Field(1000, ge=10)
    max_json_depth: int = Field(32, ge=2)
    # After this many invalid tokens from one client address within the window, further invalid tokens
    # from it get 429 with Retry-After (valid tokens are never refused). The count is per process.
    auth_failures_per_window: int = Field(20, ge=1)
    auth_failure_window_seconds: float = Field(60.0, gt=0)
    # Addresses the throttle remembers at most (least recently failed forgotten first): bounded memory.
    auth_tracked_addresses: int = Field(10_000, ge=1)
    # The client address is the socket peer; only a peer in these networks (your reverse proxies) is
    # believed about the client it forwards, through X-Forwarded-For.
    trusted_proxies: list[IPvAnyNetwork] = []
    # The reply route alone takes uploads: its body may hold the files the attachment limits admit, plus
    # the reply's text and the multipart framing. None: derived from those limits (Settings below).
    max_reply_body_bytes: int | None = Field(None, ge=1024)

    def max_body_for(self, path: str) -> int:
        if path.startswith("/api/v1/admin/"):
            return self.max_admin_body_bytes
        if self.max_reply_body_bytes is not None and _REPLY_PATH.match(path):
            return max(self.max_reply_body_bytes, self.max_body_bytes)
        return self.max_body_bytes if path.startswith(("/api/", "/console/")) else self.max_other_body_bytes


class MetricsSettings(BaseModel):
    """`GET /metrics` (Prometheus). Off until a token is set: scrapers send it as a bearer token,
    compared in constant time and never logged."""

    token: SecretStr | None = None

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("metrics.token must be at least 16 characters")
        return value


class HealthSettings(BaseModel):
    """The worker's heartbeat, and when `/readyz` calls it stale."""

    # A worker writes its heartbeat row (and the counters it keeps) this often.
    heartbeat_seconds: float = Field(10.0, gt=0)
    # /readyz answers 503 once the newest heartbeat of any worker is older than this.
    heartbeat_stale_seconds: float = Field(60.0, gt=0)
    # `serve` alone expects a worker once one has ever beaten; with this, from the start (`run` always does).
    require_worker: bool = False

    @model_validator(mode="after")
    def _stale_after_beats(self) -> HealthSettings:
        if self.heartbeat_stale_seconds < 2 * self.heartbeat_seconds:
            raise ValueError("health.heartbeat_stale_seconds must be at least twice health.heartbeat_seconds")
        return self


class ConsoleSettings(BaseModel):
    """The web console's sign-in sessions (app/console/)."""

    # A session ends after this long without a request (each request moves its end on).
    idle_minutes: int = Field(12 * 60, ge=5, le=30 * 24 * 60)
    # The app's cookies (the console's session and forms, the help centre's and the survey's forms)
    # carry Secure when this is true; unset, when the request came over HTTPS
    # (its own scheme, or X-Forwarded-Proto from one of http.trusted_proxies). Set it true behind a
    # TLS proxy that is not listed there; false only for plain-http development.
    secure_cookies: bool | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTEDESK_", env_nested_delimiter="__", extra="ignore", env_file=None)

    database_url: str = "sqlite+aiosqlite:///./routedesk.db"
    # PostgreSQL connections each process keeps open. Requests beyond it wait for one instead of opening
    # and closing connections of their own: under load that churn costs more than the wait.
    database_pool_size: int = Field(20, ge=1, le=1000)
    data_dir: Path = Path("./routedesk-data")
    # Key that encrypts mailbox passwords at rest; when unset, one is generated in data_dir.
    secret_key: SecretStr | None = None
    # Where customers reach this app (https://support.example.com, any path prefix): every link in mail
    # is made from it, the acknowledgement's suggested articles and the CSAT survey's rating links.
    # Unset: acknowledgements list no articles and surveys are not sent (skipped: no_public_url), never
    # a link to an address customers cannot reach.
    public_url: str | None = Field(None, max_length=500)
    log_level: str = "info"
    log_json: bool = False
    imap: ImapSettings = ImapSettings()
    ingest: IngestSettings = IngestSettings()
    smtp: SmtpSettings = SmtpSettings()
    tickets: TicketSettings = TicketSettings()
    csat: CsatSettings = CsatSettings()
    http: HttpSettings = HttpSettings()
    attachments: AttachmentSettings = AttachmentSettings()
    metrics: MetricsSettings = MetricsSettings()
    health: HealthSettings = HealthSettings()
    console: ConsoleSettings = ConsoleSettings()

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not _PUBLIC_URL.fullmatch(value):
            raise ValueError(
                "public_url must be an http:// or https:// address without query, e.g. https://support.example.com"
            )
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        # Accept the plain forms people paste and pick the async driver we ship.
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        elif value.startswith("sqlite:///"):
            value = "sqlite+aiosqlite:///" + value[len("sqlite:///") :]
        if not (value.startswith("postgresql+asyncpg://") or value.startswith("sqlite+aiosqlite://")):
            raise ValueError("database_url must be a sqlite:/// or postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _reply_body_admits_attachments(self) -> Settings:
        files = self.attachments
        needed = (
            files.max_reply_bytes + self.http.max_body_bytes + MULTIPART_PART_OVERHEAD * (files.max_reply_files + 4)
        )
        limit = self.http.max_reply_body_bytes
        if limit is None:
            self.http = self.http.model_copy(update={"max_reply_body_bytes": needed})
        elif limit < needed:
            raise ValueError(
                f"http.max_reply_body_bytes ({limit}) cannot hold a reply with the attachments that the "
                f"attachments settings admit: it needs at least {needed} bytes (or leave it unset)"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
