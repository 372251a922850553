"""Synthetic support email for a payments platform whose customers are merchants.

Everything here is deterministic: every function takes a seed and draws from its own
``random.Random``. All wording (templates, phrase banks, names, companies) is written for this project
and kept in ``data/`` beside this module, read once at import; this module holds the logic that draws
from it. Sender domains use the reserved ``.example`` TLD (RFC 2606) and IP addresses come from the
documentation ranges (RFC 5737), so demo mail can never reach a real party.

Three users:

* :func:`labelled_examples` — the labelled training/demo set for the classifier
  (:func:`as_rows` / :func:`write_labelled_csv` export it).
* :func:`demo_mailbox` — the sample mail ``routedesk demo`` loads into its local IMAP server.
* :func:`generate_emails` — a stream of raw RFC 5322 messages for the ingest benchmark.
"""

from __future__ import annotations

import base64
import binascii
import csv
import html
import json
import math
import random
import re
import textwrap
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, formataddr
from os import PathLike
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = [
    "AREAS",
    "SupportEmail",
    "as_rows",
    "demo_mailbox",
    "generate_emails",
    "labelled_examples",
    "write_labelled_csv",
]

AREAS: tuple[str, ...] = (
    "payments",
    "refunds_disputes",
    "payouts",
    "billing",
    "account_access",
    "identity_verification",
    "integrations",
    "fraud",
)

# Relative volume per area: roughly balanced, deliberately not uniform.
_AREA_WEIGHTS: dict[str, float] = {
    "payments": 1.25,
    "refunds_disputes": 1.15,
    "payouts": 1.05,
    "billing": 0.9,
    "account_access": 1.0,
    "identity_verification": 0.85,
    "integrations": 1.0,
    "fraud": 0.8,
}

# Traits a labelled example can carry (see SupportEmail.traits).
TRAITS: tuple[str, ...] = (
    "ambiguous",
    "typos",
    "lowercase",
    "signature",
    "quoted",
    "german",
    "french",
)


@dataclass(frozen=True, slots=True)
class SupportEmail:
    """One labelled support email: what a merchant wrote and the area it belongs to.

    ``secondary_label`` is set on the deliberately ambiguous examples (the other area they touch);
    ``traits`` names the variations applied (a subset of :data:`TRAITS`).
    """

    label: str
    subject: str
    body: str
    from_name: str
    from_address: str
    company: str
    secondary_label: str | None = None
    traits: frozenset[str] = frozenset()

    @property
    def text(self) -> str:
        return f"{self.subject}\n\n{self.body}"


# --------------------------------------------------------------------------------------------------
# Phrase banks (data/*.json). Slots in braces are filled per email (see _SLOT_MAKERS); one email uses
# one value per slot name, so the order id in the subject is the order id in the body.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Bank:
    subjects: tuple[str, ...]  # area-level subjects, matching any problem of the area
    problems: tuple[tuple[str, tuple[str, ...]], ...]
    details: tuple[str, ...]
    asks: tuple[str, ...]
    followups: tuple[str, ...]
    subjects_de: tuple[str, ...] = ()
    subjects_fr: tuple[str, ...] = ()


_DATA = Path(__file__).with_name("data")


def _tuples(value: Any) -> Any:
    """JSON's lists as the tuples the generator draws from."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = _tuples(json.loads((_DATA / f"{name}.json").read_text(encoding="utf-8")))
    return loaded


_AREA_TEXT, _PHRASES, _PEOPLE, _VALUES = (_load(name) for name in ("areas", "phrases", "people", "values"))

_BANKS: dict[str, _Bank] = {area: _Bank(**bank) for area, bank in _AREA_TEXT["banks"].items()}
# Deliberately ambiguous examples: (primary label, secondary area, subjects, problem). They are labelled
# with the primary area: what the merchant needs done.
_AMBIGUOUS: tuple[tuple[str, str, tuple[str, ...], str], ...] = _AREA_TEXT["ambiguous"]

_GENERIC_SUBJECTS: tuple[str, ...] = _PHRASES["generic_subjects"]
_GENERIC_CONTEXT: tuple[str, ...] = _PHRASES["generic_context"]
_GENERIC_ASKS: tuple[str, ...] = _PHRASES["generic_asks"]
_FOLLOWUPS: tuple[str, ...] = _PHRASES["followups"]
_GREETINGS_EN, _GREETINGS_DE, _GREETINGS_FR = (_PHRASES["greetings"][lang] for lang in ("en", "de", "fr"))
_SIGNOFFS_EN, _SIGNOFFS_DE, _SIGNOFFS_FR = (_PHRASES["signoffs"][lang] for lang in ("en", "de", "fr"))
_AGENT_REPLIES: tuple[str, ...] = _PHRASES["agent_replies"]
# What an agent typically asked earlier, per area (quoted history in follow-ups).
_AGENT_ASKS: dict[str, tuple[str, ...]] = _PHRASES["agent_asks"]
_AGENTS: tuple[str, ...] = _PHRASES["agents"]
_ATTACH_NAMES: dict[str, tuple[str, ...]] = _PHRASES["attachment_names"]
_DSN_SUBJECTS: tuple[str, ...] = _PHRASES["dsn_subjects"]

_FIRST_EN, _FIRST_DE, _FIRST_FR = (_PEOPLE["first_names"][lang] for lang in ("en", "de", "fr"))
_LAST_EN, _LAST_DE, _LAST_FR = (_PEOPLE["last_names"][lang] for lang in ("en", "de", "fr"))
# (display name, first name as written, ASCII first, ASCII last)
_NON_ASCII_NAMES: tuple[tuple[str, str, str, str], ...] = _PEOPLE["non_ascii_names"]
# country code -> (name in prose, lang, currency, legal forms, phone prefix, UTC offset hours, VAT prefix)
_COUNTRIES: dict[str, tuple[str, str, str, tuple[str, ...], str, int, str]] = _PEOPLE["countries"]
_COUNTRY_CODES = tuple(_COUNTRIES)
_COUNTRY_WEIGHTS: tuple[int, ...] = _PEOPLE["country_weights"]  # in the order of the countries
_CO_WORDS: tuple[str, ...] = _PEOPLE["company_words"]
_CO_TRADES: tuple[str, ...] = _PEOPLE["company_trades"]
_CO_DE: tuple[str, ...] = _PEOPLE["companies_de"]
_CO_FR: tuple[str, ...] = _PEOPLE["companies_fr"]
_PRODUCTS: tuple[str, ...] = _PEOPLE["products"]
_BUSINESS_TYPES: tuple[str, ...] = _PEOPLE["business_types"]
_TITLES, _TITLES_DE, _TITLES_FR = (_PEOPLE["titles"][lang] for lang in ("en", "de", "fr"))
_CLIENTS: tuple[str, ...] = _PEOPLE["clients"]
_CLIENT_WEIGHTS: tuple[int, ...] = _PEOPLE["client_weights"]  # in the order of the clients

_MONTHS, _MONTHS_DE, _MONTHS_FR = (_VALUES["months"][lang] for lang in ("en", "de", "fr"))
_WEEKDAYS: tuple[str, ...] = _VALUES["weekdays"]
_BRANDS: tuple[str, ...] = _VALUES["card_brands"]
_DECLINES: tuple[str, ...] = _VALUES["declines"]
_METHODS: tuple[str, ...] = _VALUES["payment_methods"]
_API_ERRORS: tuple[str, ...] = _VALUES["api_errors"]
_HTTP: tuple[str, ...] = _VALUES["http_statuses"]
_ERR_CODES: tuple[str, ...] = _VALUES["error_codes"]
_PLUGINS: tuple[str, ...] = _VALUES["plugins"]
_SDKS: tuple[str, ...] = _VALUES["sdks"]
_EVENTS: tuple[str, ...] = _VALUES["events"]
_ENDPOINTS: tuple[str, ...] = _VALUES["endpoints"]
_ROLES: tuple[str, ...] = _VALUES["roles"]
_DOCS: tuple[str, ...] = _VALUES["documents"]
_BANK_NAMES: tuple[str, ...] = _VALUES["bank_names"]
_PLANS: tuple[str, ...] = _VALUES["plans"]
_FEE_ITEMS: tuple[str, ...] = _VALUES["fee_items"]
_CITIES: tuple[str, ...] = _VALUES["cities"]
_FOREIGN: tuple[str, ...] = _VALUES["foreign_countries"]
_CURRENCY_SYMBOLS: dict[str, str] = _VALUES["currency_symbols"]
# The head of an Outlook HTML body, a str.format template (charset, lang): Word's markup, as Outlook sends it.
_OUTLOOK_HEAD = (_DATA / "outlook_head.txt").read_text(encoding="utf-8")

_B64_TO_ALNUM = str.maketrans("+/", "xQ")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _rand_str(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choices(alphabet, k=n))


def _alnum(rng: random.Random, n: int) -> str:
    """n random letters and digits (fast: base64 of random bytes)."""
    return base64.b64encode(rng.randbytes(n)).decode("ascii")[:n].translate(_B64_TO_ALNUM)


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _b64_lines(data: bytes) -> str:
    """Base64 in 76-character lines, LF-terminated (MIME body encoding)."""
    s = base64.b64encode(data).decode("ascii")
    return "".join([s[i : i + 76] + "\n" for i in range(0, len(s), 76)])


def _group(v: int, sep: str) -> str:
    return f"{v:,}".replace(",", sep)


def _money(rng: random.Random, currency: str, lo: float, hi: float, lang: str) -> str:
    value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    whole = rng.random() < 0.25 and value > 20
    cents = 0 if whole else round(value * 100) % 100
    units = round(value) if whole else int(value)
    style = rng.random()
    if lang == "de" and currency == "EUR" and style < 0.6:
        return f"{_group(units, '.')},{cents:02d} €" if not whole else f"{_group(units, '.')} €"
    if lang == "fr" and currency == "EUR" and style < 0.6:
        return f"{_group(units, ' ')},{cents:02d} €" if not whole else f"{_group(units, ' ')} €"
    number = f"{_group(units, ',')}" + ("" if whole else f".{cents:02d}")
    symbol = _CURRENCY_SYMBOLS.get(currency)
    if symbol and style < 0.75:
        return f"{symbol}{number}"
    if currency in ("SEK", "DKK") and style < 0.5:
        return f"{_group(units, ' ')} kr"
    if currency == "PLN" and style < 0.5:
        return f"{_group(units, ' ')},{cents:02d} zł"
    return f"{number} {currency}" if style < 0.9 else f"{currency} {number}"


def _text_date(rng: random.Random, lang: str) -> str:
    day = rng.randint(1, 28)
    month = rng.randrange(12)
    year = rng.choice((2024, 2025))
    style = rng.random()
    if lang == "de" and style < 0.4:
        return f"{day:02d}.{month + 1:02d}.{year}"
    if lang == "fr" and style < 0.4:
        return f"{day:02d}/{month + 1:02d}/{year}"
    if style < 0.35:
        return f"{day} {_MONTHS[month]}"
    if style < 0.55:
        return f"{_MONTHS[month]} {day}"
    if style < 0.7:
        return f"{year}-{month + 1:02d}-{day:02d}"
    if style < 0.85:
        return f"{_WEEKDAYS[rng.randrange(5)]} {day} {_MONTHS[month]}"
    return f"{day:02d}/{month + 1:02d}"


def _version(rng: random.Random) -> str:
    return f"{rng.randint(1, 8)}.{rng.randint(0, 14)}.{rng.randint(0, 9)}"


def _order_id(rng: random.Random) -> str:
    style = rng.randrange(5)
    if style == 0:
        return f"#{rng.randint(10000, 999999)}"
    if style == 1:
        return f"ORD-{rng.randint(100000, 999999)}"
    if style == 2:
        return str(rng.randint(1000, 99999))
    if style == 3:
        return f"SO-{rng.choice((2024, 2025))}-{rng.randint(1000, 99999):05d}"
    return f"{_rand_str(rng, 'ABCDEFGHJKLMNPQRSTUVWXYZ', 2)}{rng.randint(100000, 999999)}"


def _log_line(rng: random.Random) -> str:
    return (
        f"{rng.choice(('POST', 'GET'))} {rng.choice(_ENDPOINTS)} -> {rng.choice(_HTTP)} "
        f"({rng.randint(40, 30000)} ms) req_{_alnum(rng, 14)}"
    )


class _Slots(dict[str, str]):
    """Slot values, drawn on first use: an email uses one value per slot name."""

    __slots__ = ("persona", "rng")

    def __init__(self, rng: random.Random, persona: _Persona) -> None:
        super().__init__()
        self.rng = rng
        self.persona = persona

    def __missing__(self, key: str) -> str:
        value = _SLOT_MAKERS[key](self)
        self[key] = value
        return value


def _other_currency(s: _Slots) -> str:
    cur = s["currency"]
    return s.rng.choice([c for c in ("EUR", "USD", "GBP", "CHF", "SEK") if c != cur])


def _vat_id(s: _Slots) -> str:
    prefix = _COUNTRIES[s.persona.country][6]
    return f"{prefix}{s.rng.randint(100000000, 999999999)}"


_SLOT_MAKERS: dict[str, Callable[[_Slots], str]] = {
    "amount": lambda s: _money(s.rng, s.persona.currency, 8, 2500, s.persona.lang),
    "amount_small": lambda s: _money(s.rng, s.persona.currency, 0.5, 45, s.persona.lang),
    "amount_big": lambda s: _money(s.rng, s.persona.currency, 900, 90000, s.persona.lang),
    "amount_big2": lambda s: _money(s.rng, s.persona.currency, 900, 90000, s.persona.lang),
    "currency": lambda s: s.persona.currency,
    "currency2": _other_currency,
    "order": lambda s: _order_id(s.rng),
    "txn": lambda s: "txn_" + _alnum(s.rng, 16),
    "payout_id": lambda s: "po_" + _alnum(s.rng, 14),
    "dispute_id": lambda s: "dp_" + _alnum(s.rng, 12),
    "refund_id": lambda s: "re_" + _alnum(s.rng, 12),
    "req_id": lambda s: "req_" + _alnum(s.rng, 14),
    "acct": lambda s: "acct_" + _alnum(s.rng, 12).lower(),
    "invoice": lambda s: f"INV-{s.rng.choice((2024, 2025))}-{s.rng.randint(1, 99999):05d}",
    "date": lambda s: _text_date(s.rng, s.persona.lang),
    "date2": lambda s: _text_date(s.rng, s.persona.lang),
    "month": lambda s: s.rng.choice(_MONTHS),
    "last4": lambda s: f"{s.rng.randint(0, 9999):04d}",
    "last4b": lambda s: f"{s.rng.randint(0, 9999):04d}",
    "iban_tail": lambda s: f"{s.rng.randint(0, 9999):04d}",
    "brand": lambda s: s.rng.choice(_BRANDS),
    "decline": lambda s: s.rng.choice(_DECLINES),
    "method": lambda s: s.rng.choice(_METHODS),
    "api_error": lambda s: s.rng.choice(_API_ERRORS),
    "http_status": lambda s: s.rng.choice(_HTTP),
    "err_code": lambda s: s.rng.choice(_ERR_CODES),
    "plugin": lambda s: s.rng.choice(_PLUGINS),
    "sdk": lambda s: s.rng.choice(_SDKS),
    "version": lambda s: _version(s.rng),
    "php": lambda s: s.rng.choice(("7.4", "8.1", "8.2", "8.3")),
    "event": lambda s: s.rng.choice(_EVENTS),
    "endpoint": lambda s: s.rng.choice(_ENDPOINTS),
    "log_line": lambda s: _log_line(s.rng),
    "role": lambda s: s.rng.choice(_ROLES),
    "doc": lambda s: s.rng.choice(_DOCS),
    "bank": lambda s: s.rng.choice(_BANK_NAMES),
    "plan": lambda s: s.rng.choice(_PLANS),
    "plan2": lambda s: s.rng.choice([p for p in _PLANS if p != s["plan"]]),
    "fee": lambda s: _fee(s),
    "fee2": lambda s: _fee(s),
    "fee_item": lambda s: s.rng.choice(_FEE_ITEMS),
    "vat_id": _vat_id,
    "reg_no": lambda s: f"{s.rng.choice(('HRB ', 'RCS ', '', 'No. '))}{s.rng.randint(10000, 9999999)}",
    "n": lambda s: str(s.rng.randint(5, 60)),
    "n2": lambda s: str(s.rng.randint(70, 400)),
    "n_small": lambda s: str(s.rng.randint(2, 6)),
    "days": lambda s: str(s.rng.randint(3, 14)),
    "years": lambda s: str(s.rng.randint(2, 9)),
    "pct": lambda s: str(s.rng.randint(3, 45)),
    "ip": lambda s: f"203.0.113.{s.rng.randint(1, 254)}",
    "city": lambda s: s.rng.choice(_CITIES),
    "country": lambda s: s.rng.choice(_FOREIGN),
    "merchant_country": lambda s: _COUNTRIES[s.persona.country][0],
    "company": lambda s: s.persona.company,
    "product": lambda s: s.persona.product,
    "business_type": lambda s: s.rng.choice(_BUSINESS_TYPES),
    "email_self": lambda s: s.persona.address,
    "colleague": lambda s: s.persona.colleague,
    "email_colleague": lambda s: f"{s.persona.colleague.lower()}@{s.persona.domain}",
}


def _fee(s: _Slots) -> str:
    pct = s.rng.choice(("1.2", "1.4", "1.5", "1.8", "2.5", "2.9", "0.9"))
    fixed = s.rng.choice(("0.10", "0.20", "0.25", "0.30"))
    symbol = _CURRENCY_SYMBOLS.get(s.persona.currency)
    return f"{pct}% + {symbol}{fixed}" if symbol else f"{pct}% + {fixed} {s.persona.currency}"


# --------------------------------------------------------------------------------------------------
# Personas and drafts
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Persona:
    name: str
    first: str
    address: str
    company: str
    domain: str
    country: str
    lang: str
    currency: str
    phone: str
    title: str
    product: str
    colleague: str
    client: str
    tz: timezone


def _ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("&", "and"))
    return re.sub(r"[^a-z0-9]+", "", decomposed.encode("ascii", "ignore").decode().lower())


def _phone(rng: random.Random, prefix: str) -> str:
    if prefix == "+44":
        return f"+44 20 7946 0{rng.randint(0, 999):03d}"
    if prefix == "+1":
        return f"+1 {rng.choice(('212', '415', '312', '617'))} 555 01{rng.randint(0, 99):02d}"
    return f"{prefix} {rng.randint(20, 89)} {rng.randint(100, 9999)} {rng.randint(1000, 9999)}"


def _make_persona(rng: random.Random) -> _Persona:
    country = rng.choices(_COUNTRY_CODES, _COUNTRY_WEIGHTS)[0]
    _, lang, currency, legal_forms, phone_prefix, offset, _ = _COUNTRIES[country]
    if country == "CH" and rng.random() < 0.35:
        lang = "fr"
    firsts: tuple[str, ...]
    lasts: tuple[str, ...]
    if lang == "de":
        firsts, lasts = _FIRST_DE, _LAST_DE
    elif lang == "fr":
        firsts, lasts = _FIRST_FR, _LAST_FR
    else:
        firsts, lasts = _FIRST_EN, _LAST_EN
    if rng.random() < 0.1:
        name, first, ascii_first, ascii_last = rng.choice(_NON_ASCII_NAMES)
    else:
        first, last = rng.choice(firsts), rng.choice(lasts)
        name = f"{first} {last}"
        ascii_first, ascii_last = _ascii_slug(first), _ascii_slug(last)
    style = rng.random()
    other_last = rng.choice(lasts)
    if lang == "de" and style < 0.45:
        base = rng.choice(_CO_DE).format(last=other_last, first=rng.choice(firsts))
    elif lang == "fr" and style < 0.45:
        base = rng.choice(_CO_FR).format(last=other_last, first=rng.choice(firsts))
    elif style < 0.8:
        base = f"{rng.choice(_CO_WORDS)} {rng.choice(_CO_TRADES)}"
    else:
        base = f"{other_last} & {rng.choice(lasts)}" if rng.random() < 0.5 else rng.choice(_CO_WORDS)
        base += f" {rng.choice(_CO_TRADES)}"
    company = f"{base} {rng.choice(legal_forms)}" if rng.random() < 0.75 else base
    domain = _ascii_slug(base)[:24] + rng.choice(("", "", "", "-shop", "-store", "hq")) + ".example"
    local_style = rng.random()
    if local_style < 0.3:
        local = ascii_first
    elif local_style < 0.6:
        local = f"{ascii_first}.{ascii_last}"
    elif local_style < 0.72:
        local = f"{ascii_first[0]}.{ascii_last}"
    else:
        local = rng.choice(("info", "hello", "accounts", "billing", "shop", "office", "finance", "contact"))
    if lang == "de":
        title = rng.choice(_TITLES + _TITLES_DE)
    elif lang == "fr":
        title = rng.choice(_TITLES + _TITLES_FR)
    else:
        title = rng.choice(_TITLES)
    return _Persona(
        name=name,
        first=first,
        address=f"{local}@{domain}",
        company=company,
        domain=domain,
        country=country,
        lang=lang,
        currency=currency,
        phone=_phone(rng, phone_prefix),
        title=title,
        product=rng.choice(_PRODUCTS),
        colleague=rng.choice(firsts),
        client=rng.choices(_CLIENTS, _CLIENT_WEIGHTS)[0],
        tz=timezone(timedelta(hours=offset)),
    )


@dataclass(slots=True)
class _Draft:
    label: str
    secondary: str | None
    subject: str
    greeting: str | None
    paragraphs: list[str]
    signoff: list[str]
    signature: list[str] | None
    quote_header: str | None = None
    quote_lines: list[str] = field(default_factory=list)
    traits: set[str] = field(default_factory=set)

    def new_text(self) -> str:
        """The message without quoted history: greeting, paragraphs, sign-off, signature."""
        parts: list[str] = []
        if self.greeting:
            parts.append(self.greeting)
        parts.extend(self.paragraphs)
        if self.signoff:
            parts.append("\n".join(self.signoff))
        text = "\n\n".join(parts)
        if self.signature:
            text += "\n\n-- \n" + "\n".join(self.signature)
        return text

    def text(self) -> str:
        text = self.new_text()
        if self.quote_header:
            quoted = "\n".join(
                f"> {line}" if line and not line.startswith(">") else f">{line}" for line in self.quote_lines
            )
            text += f"\n\n{self.quote_header}\n{quoted}"
        return text


_TYPO_WORD = re.compile(r"(?<![\w@./-])[A-Za-z]{4,}(?![\w@./-])")
_TRAILING_PUNCT = re.compile(r"[.!?;:,]+(?=\s|$)")
_TOKEN = re.compile(r"\S+")


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    if rng.random() < 0.5 and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if rng.random() < 0.8:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _add_typos(text: str, rng: random.Random, rate: float = 0.03) -> str:
    """Swap, drop or double a letter in some words of four letters or more (never inside ids/addresses)."""
    out = _TYPO_WORD.sub(lambda m: _typo(m.group(0), rng) if rng.random() < rate else m.group(0), text)
    if out == text:
        words = list(_TYPO_WORD.finditer(text))
        if words:
            m = max(words, key=lambda w: len(w.group(0)))
            out = text[: m.start()] + _typo(m.group(0), rng) + text[m.end() :]
    return out


def _casual(text: str) -> str:
    """Lower case and no sentence punctuation, as typed on a phone. Ids keep their case."""
    lowered = _TOKEN.sub(lambda m: m.group(0) if re.search(r"[\d_@]", m.group(0)) else m.group(0).lower(), text)
    return _TRAILING_PUNCT.sub("", lowered)


def _fill(template: str, slots: _Slots) -> str:
    return template.format_map(slots)


def _quote_date(rng: random.Random, lang: str) -> str:
    day, month, year = rng.randint(1, 28), rng.randrange(12), rng.choice((2024, 2025))
    hh, mm = rng.randint(7, 19), rng.randrange(60)
    if lang == "de":
        return f"Am {day:02d}.{month + 1:02d}.{year} um {hh:02d}:{mm:02d}"
    if lang == "fr":
        return f"Le {day} {_MONTHS_FR[month]} {year} à {hh:02d}:{mm:02d}"
    return f"On {_WEEKDAYS[rng.randrange(7)][:3]}, {day} {_MONTHS[month][:3]} {year} at {hh:02d}:{mm:02d}"


def _attribution(prefix: str, who: str) -> str:
    if prefix.startswith("Am "):
        return f"{prefix} schrieb {who}:"
    if prefix.startswith("Le "):
        return f"{prefix}, {who} a écrit :"
    return f"{prefix}, {who} wrote:"


def _compose(
    rng: random.Random,
    label: str,
    persona: _Persona,
    *,
    ambiguous: bool,
    support_address: str,
) -> _Draft:
    """One first-contact email from ``persona`` about ``label``."""
    slots = _Slots(rng, persona)
    bank = _BANKS[label]
    traits: set[str] = set()
    secondary: str | None = None
    native = persona.lang != "en" and rng.random() < 0.6
    if ambiguous:
        options = [a for a in _AMBIGUOUS if a[0] == label]
        _, secondary, amb_subjects, problem_t = rng.choice(options)
        traits.add("ambiguous")
        if rng.random() < 0.5:
            subject_t = rng.choice(amb_subjects)
        elif rng.random() < 0.5:
            subject_t = rng.choice(_BANKS[secondary].subjects)
        else:
            subject_t = rng.choice(bank.subjects)
    else:
        problem_t, problem_subjects = rng.choice(bank.problems)
        roll = rng.random()
        if native and roll < 0.4:
            subject_t = rng.choice(bank.subjects_de if persona.lang == "de" else bank.subjects_fr)
        elif roll < 0.06:
            subject_t = rng.choice(_GENERIC_SUBJECTS)
        elif roll < 0.25:
            subject_t = rng.choice(bank.subjects)
        else:
            subject_t = rng.choice(problem_subjects)
    subject = _fill(subject_t, slots)
    if rng.random() < 0.08:
        subject = subject.lower()
    elif rng.random() < 0.04:
        subject = rng.choice(("URGENT: ", "Urgent - ", "Important: ")) + subject

    first = _fill(problem_t, slots)
    if rng.random() < 0.3:
        first = _fill(rng.choice(_GENERIC_CONTEXT), slots) + " " + first
    paragraphs = [first]
    if rng.random() < 0.6:
        details = rng.sample(bank.details, k=1 if rng.random() < 0.7 else 2)
        paragraphs.append(" ".join(_fill(d, slots) for d in details))
    if rng.random() < 0.85:
        specific = not ambiguous and rng.random() < 0.7
        ask = _fill(rng.choice(bank.asks), slots) if specific else rng.choice(_GENERIC_ASKS)
        if len(paragraphs) > 1 and rng.random() < 0.4:
            paragraphs[-1] += " " + ask
        else:
            paragraphs.append(ask)
    if rng.random() < 0.1:
        paragraphs = [" ".join(paragraphs)]

    greeting: str | None
    g = rng.random()
    if native:
        greeting = rng.choice(_GREETINGS_DE if persona.lang == "de" else _GREETINGS_FR)
        traits.add("german" if persona.lang == "de" else "french")
    elif g < 0.04:
        greeting = rng.choice(_GREETINGS_DE)
        traits.add("german")
    elif g < 0.07:
        greeting = rng.choice(_GREETINGS_FR)
        traits.add("french")
    elif g < 0.14:
        greeting = None
    else:
        greeting = rng.choice(_GREETINGS_EN)

    if native and persona.lang == "de":
        signoff_word = rng.choice(_SIGNOFFS_DE)
    elif native:
        signoff_word = rng.choice(_SIGNOFFS_FR)
    else:
        signoff_word = rng.choice(_SIGNOFFS_EN)
    roll = rng.random()
    name_line = persona.first if roll < 0.6 else persona.name if roll < 0.92 else persona.first[0]
    signoff = [signoff_word, name_line] if rng.random() < 0.9 else [name_line]

    if rng.random() < 0.08:
        traits.add("lowercase")
        paragraphs = [_casual(p) for p in paragraphs]
        signoff = [_casual(line) for line in signoff]
        if greeting:
            greeting = _casual(greeting)
    if rng.random() < 0.15:
        traits.add("typos")
        paragraphs = [_add_typos(p, rng) for p in paragraphs]

    signature: list[str] | None = None
    if rng.random() < 0.35:
        traits.add("signature")
        signature = [persona.name]
        if rng.random() < 0.7:
            signature.append(persona.title)
        signature.append(persona.company)
        signature.append(persona.phone)
        if rng.random() < 0.5:
            signature.append(f"www.{persona.domain}")

    draft = _Draft(label, secondary, subject, greeting, paragraphs, signoff, signature, traits=traits)
    if rng.random() < 0.15:
        traits.add("quoted")
        lang = persona.lang if native else "en"
        prefix = _quote_date(rng, lang)
        if rng.random() < 0.6:
            agent = rng.choice(_AGENTS)
            draft.quote_header = _attribution(prefix, f"{agent} <{support_address}>")
            replies = _AGENT_ASKS[label] if rng.random() < 0.7 else _AGENT_REPLIES
            lines = _wrap(rng.choice(replies), 72)
            lines += ["", "Best,", agent, "Customer Support"]
            if rng.random() < 0.5:
                earlier = _wrap(_fill(rng.choice(bank.problems)[0], _Slots(rng, persona)), 70)
                who = f"{persona.name} <{persona.address}>"
                lines += ["", _attribution(_quote_date(rng, "en"), who), *(f"> {line}" for line in earlier)]
        else:
            draft.quote_header = _attribution(prefix, f"{persona.name} <{persona.address}>")
            lines = _wrap(_fill(rng.choice(bank.problems)[0], _Slots(rng, persona)), 72)
        draft.quote_lines = lines
    return draft


def _to_support_email(d: _Draft, persona: _Persona) -> SupportEmail:
    return SupportEmail(
        label=d.label,
        subject=d.subject,
        body=d.text(),
        from_name=persona.name,
        from_address=persona.address,
        company=persona.company,
        secondary_label=d.secondary,
        traits=frozenset(d.traits),
    )


def _new_rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - synthetic data, not security


def _allocate(n: int, rng: random.Random) -> dict[str, int]:
    """Split n over the areas by weight with a little seeded jitter; every area gets at least one."""
    weights = {a: w * rng.uniform(0.93, 1.07) for a, w in _AREA_WEIGHTS.items()}
    total = sum(weights.values())
    exact = {a: n * w / total for a, w in weights.items()}
    counts = {a: int(v) for a, v in exact.items()}
    for a in sorted(exact, key=lambda a: exact[a] - counts[a], reverse=True)[: n - sum(counts.values())]:
        counts[a] += 1
    if n >= len(AREAS):
        for a in AREAS:
            if counts[a] == 0:
                donor = max(counts, key=lambda k: counts[k])
                counts[donor] -= 1
                counts[a] = 1
    return counts


def labelled_examples(n: int = 1600, *, seed: int = 7) -> list[SupportEmail]:
    """``n`` labelled support emails over all :data:`AREAS`, shuffled, about 10% of them ambiguous."""
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = _new_rng(seed)
    labels = [a for a, c in _allocate(n, rng).items() for _ in range(c)]
    rng.shuffle(labels)
    support = "support@support.example.com"
    out: list[SupportEmail] = []
    for label in labels:
        persona = _make_persona(rng)
        draft = _compose(rng, label, persona, ambiguous=rng.random() < 0.1, support_address=support)
        out.append(_to_support_email(draft, persona))
    return out


def as_rows(examples: Iterable[SupportEmail]) -> list[dict[str, str]]:
    """Rows with keys subject, body, label and text (subject + blank line + body)."""
    return [{"subject": e.subject, "body": e.body, "label": e.label, "text": e.text} for e in examples]


def write_labelled_csv(path: str | PathLike[str], examples: Iterable[SupportEmail]) -> int:
    """Write ``examples`` as UTF-8 CSV (columns text, label, subject, body); returns the row count."""
    rows = as_rows(examples)
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label", "subject", "body"])
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


# --------------------------------------------------------------------------------------------------
# Raw RFC 5322 messages
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Sent:
    """A customer message already in the stream, for replies and auto-replies to refer to."""

    message_id: str
    references: list[str]
    subject: str
    persona: _Persona
    label: str
    text: str
    date: datetime


def _encode_subject(subject: str) -> str:
    """RFC 2047 for non-ASCII subjects: base64 encoded-words of at most 45 octets (75 characters each),
    folded onto continuation lines."""
    if subject.isascii():
        return subject
    words: list[str] = []
    chunk = b""
    for ch in subject:
        b = ch.encode("utf-8")
        if len(chunk) + len(b) > 45:
            words.append(chunk.decode("utf-8"))
            chunk = b""
        chunk += b
    words.append(chunk.decode("utf-8"))
    return "\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?=" for w in words)


def _encode_address(name: str, address: str, charset: str = "utf-8") -> str:
    if name.isascii():
        return formataddr((name, address))
    try:
        name.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    return formataddr((name, address), charset)


def _fold_ids(ids: Sequence[str]) -> str:
    return "\n ".join(ids)


def _body_part(content_type: str, text: str, charset: str, rng: random.Random, client: str, extra: str = "") -> str:
    """A text part: headers + blank line + encoded body (LF line endings)."""
    if text.isascii() and max(map(len, text.split("\n"))) <= 900 and client != "outlook":
        head = f'Content-Type: {content_type}; charset="{charset}"{extra}\n'
        return f"{head}Content-Transfer-Encoding: 7bit\n\n{text}\n"
    try:
        data = text.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
        data = text.encode(charset)
    if client == "gmail" and content_type == "text/html" and rng.random() < 0.3:
        encoded = _b64_lines(data)
        cte = "base64"
    else:
        encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False).decode("ascii")
        if not encoded.endswith("\n"):
            encoded += "\n"
        cte = "quoted-printable"
    head = f'Content-Type: {content_type}; charset="{charset}"{extra}\n'
    return f"{head}Content-Transfer-Encoding: {cte}\n\n{encoded}"


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _html(d: _Draft, client: str, charset: str, lang_tag: str) -> str:
    blocks: list[str] = ([d.greeting] if d.greeting else []) + d.paragraphs
    sign = d.signoff
    sig = d.signature or []
    quoted = "<br>\n".join(_esc(line) for line in d.quote_lines)
    if client == "outlook":
        out = [_OUTLOOK_HEAD.format(charset=charset, lang=lang_tag)]
        for b in blocks:
            out.append(
                f'<p class="MsoNormal"><span lang="{lang_tag}">{_esc(b)}<o:p></o:p></span></p>\n'
                f'<p class="MsoNormal"><span lang="{lang_tag}"><o:p>&nbsp;</o:p></span></p>\n'
            )
        for line in sign:
            out.append(f'<p class="MsoNormal"><span lang="{lang_tag}">{_esc(line)}<o:p></o:p></span></p>\n')
        if sig:
            out.append(
                '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n<p class="MsoNormal"><b><span '
                'style="font-size:10.0pt;color:#1F3864">'
                + "<br>\n".join(_esc(s) for s in sig)
                + "<o:p></o:p></span></b></p>\n"
            )
        if d.quote_header:
            out.append(
                '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n<div style="border:none;border-top:solid '
                '#E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">\n<p class="MsoNormal"><span lang="'
                f'{lang_tag}">{_esc(d.quote_header)}<o:p></o:p></span></p>\n</div>\n<p class="MsoNormal">'
                f"{quoted}<o:p></o:p></p>\n"
            )
        out.append("</div>\n</body>\n</html>\n")
        return "".join(out)
    if client == "gmail":
        inner = "\n".join(f"<div>{_esc(b)}</div><div><br></div>" for b in blocks)
        inner += "\n<div>" + "<br>".join(_esc(s) for s in sign) + "</div>"
        if sig:
            inner += (
                '<div><br></div><span class="gmail_signature_prefix">-- </span><br><div dir="ltr" '
                'class="gmail_signature"><div dir="ltr">'
                + "<div>"
                + "</div><div>".join(_esc(s) for s in sig)
                + "</div></div></div>"
            )
        out_g = f'<div dir="ltr">{inner}</div>'
        if d.quote_header:
            out_g += (
                '<br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">'
                f'{_esc(d.quote_header)}<br></div><blockquote class="gmail_quote" style="margin:0px 0px '
                '0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">'
                f"{quoted}</blockquote></div>"
            )
        return out_g + "\n"
    if client == "apple":
        body = "".join(f"<div>{_esc(b)}</div><div><br></div>" for b in blocks)
        body += "<div>" + "<br>".join(_esc(s) for s in sign) + "</div>"
        if sig:
            body += "<div><br></div><div>-- <br>" + "<br>".join(_esc(s) for s in sig) + "</div>"
        if d.quote_header:
            body += (
                f'<div><br><blockquote type="cite"><div>{_esc(d.quote_header)}</div><br>'
                f"<div>{quoted}</div></blockquote></div>"
            )
        return (
            '<html><head><meta http-equiv="content-type" content="text/html; charset='
            f'{charset}"></head><body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; '
            f'line-break: after-white-space;">{body}</body></html>\n'
        )
    # thunderbird and webmail
    parts = [f"<p>{_esc(b)}</p>" for b in blocks]
    parts.append("<p>" + "<br>\n".join(_esc(s) for s in sign) + "</p>")
    if sig:
        parts.append('<pre class="moz-signature" cols="72">-- \n' + "\n".join(_esc(s) for s in sig) + "</pre>")
    if d.quote_header:
        parts.append(
            f'<div class="moz-cite-prefix">{_esc(d.quote_header)}<br></div>\n'
            f'<blockquote type="cite">{quoted}</blockquote>'
        )
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; '
        f'charset={charset}">\n</head>\n<body>\n' + "\n".join(parts) + "\n</body>\n</html>\n"
    )


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def _flowed(text: str) -> str:
    """Soft-wrap long lines as format=flowed does (trailing space = soft break); the attribution line
    and quoted lines stay as they are."""
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= 76 or line.startswith(">") or line == "-- " or line.endswith(":"):
            out.append(line)
        else:
            wrapped = _wrap(line, 72)
            out.extend(w + " " for w in wrapped[:-1])
            out.append(wrapped[-1])
    return "\n".join(out)


# Attachments -------------------------------------------------------------------------------------


def _png(rng: random.Random, size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    w, h = rng.randint(300, 1600), rng.randint(200, 1000)
    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes((8, 6, 0, 0, 0))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", rng.randbytes(max(size - 57, 16)))
        + chunk(b"IEND", b"")
    )


def _pdf(rng: random.Random, size: int) -> bytes:
    head = (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n"
    )
    payload = rng.randbytes(max(size - 400, 64))
    stream = b"4 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(payload) + payload
    tail = b"\nendstream\nendobj\nxref\n0 5\ntrailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(head) + len(stream)
    )
    return head + stream + tail


def _export_line(rng: random.Random, label: str, stamp: str, currency: str) -> str:
    amount = f"{rng.uniform(1, 400):.2f} {currency}"
    if label == "fraud":
        return (
            f"{stamp},{_order_id(rng)},{_alnum(rng, 8).lower()}@mail.example,****{rng.randint(0, 9999):04d},"
            f"203.0.113.{rng.randint(1, 254)},{amount},{rng.choice(('declined', 'succeeded', 'blocked'))}"
        )
    if label == "billing":
        return f"{stamp}  txn_{_alnum(rng, 16)}  {rng.choice(_FEE_ITEMS):<24}  {amount}"
    if label == "payouts":
        status = rng.choice(("paid", "paid", "in_transit", "failed"))
        return f"{stamp}  po_{_alnum(rng, 14)}  {status:<10}  {rng.uniform(500, 30000):.2f} {currency}"
    return f"{stamp} {rng.choice(('INFO', 'WARN', 'ERROR'))} {_log_line(rng)}"


def _log(rng: random.Random, size: int, start: datetime, label: str, currency: str) -> bytes:
    """A text export or log of about ``size`` bytes: 16 timestamped lines, repeated as a retrying
    client (or a careless export) would."""
    t = int(start.timestamp()) - rng.randint(3600, 48 * 3600)
    lines: list[str] = []
    for _ in range(16):
        t += rng.randint(1, 90)
        stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(_export_line(rng, label, stamp, currency) + "\n")
    block = "".join(lines)
    text = block * (size // len(block) + 1)
    cut = text.rfind("\n", 0, size) + 1
    return text[: cut or len(block)].encode("ascii")


def _attachment(rng: random.Random, label: str, size: int, when: datetime, slots: _Slots) -> str:
    name_t = rng.choice(_ATTACH_NAMES[label])
    month = rng.randrange(12)
    name = name_t.format(
        stamp=f"{when:%Y-%m-%d} at {when:%H.%M.%S}",
        ref=slots["invoice"] if label == "billing" else slots["order"].lstrip("#"),
        month=_MONTHS[month],
        month_de=_MONTHS_DE[month],
    )
    if name.endswith(".png"):
        data, ctype = _png(rng, size), "image/png"
    elif name.endswith(".pdf"):
        data, ctype = _pdf(rng, size), "application/pdf"
    else:
        data, ctype = _log(rng, size, when, label, slots.persona.currency), "text/plain"
    if name.isascii():
        params = f'; name="{name}"'
        disp = f'attachment; filename="{name}"'
    else:
        enc = quote(name, safe="")
        params = f";\n name*=utf-8''{enc}"
        disp = f"attachment;\n filename*=utf-8''{enc}"
    if ctype == "text/plain":
        params = '; charset="us-ascii"' + params
    return (
        f"Content-Type: {ctype}{params}\nContent-Disposition: {disp}\nContent-Transfer-Encoding: base64\n\n"
        + _b64_lines(data)
    )


# The stream ---------------------------------------------------------------------------------------


def _boundary(rng: random.Random, client: str) -> str:
    if client == "gmail":
        return "000000000000" + _hex(rng, 12)
    if client == "outlook":
        return f"_000_{_alnum(rng, 28).upper()}_"
    if client == "apple":
        return f"Apple-Mail={_uuid(rng).upper()}"
    if client == "thunderbird":
        return "------------" + _alnum(rng, 24)
    return "=_" + _hex(rng, 32)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _message_id(rng: random.Random, client: str, domain: str, when: datetime) -> str:
    if client == "gmail":
        local = "CA" + _alnum(rng, 44)
    elif client == "outlook":
        local = _alnum(rng, 40).upper()
    elif client == "apple":
        local = _uuid(rng).upper()
    elif client == "thunderbird":
        local = _uuid(rng)
    else:
        local = f"{int(when.timestamp())}.{rng.getrandbits(48):012x}"
    return f"<{local}@{domain}>"


def _ticket_token(rng: random.Random) -> str:
    return "RD-" + _rand_str(rng, _CROCKFORD, 8)


def _subject_of_reply(rng: random.Random, subject: str, lang: str) -> str:
    if re.match(r"(?i)(re|aw|sv|réf?)\s*:", subject):
        return subject
    prefix = "Re: "
    roll = rng.random()
    if roll < 0.08:
        prefix = "RE: "
    elif roll < 0.14 and lang == "de":
        prefix = "AW: "
    return prefix + subject


class _Factory:
    """Builds raw messages for one stream; remembers what it sent so replies can refer back."""

    def __init__(self, rng: random.Random, domain: str, start: datetime) -> None:
        self.rng = rng
        self.domain = domain
        self.support = f"support@{domain}"
        self.now = start
        self.sent: list[_Sent] = []
        self.personas: list[_Persona] = []
        self.queue_id = rng.getrandbits(40)

    # -- time and people
    def tick(self) -> datetime:
        hour = self.now.hour
        mean = 150.0 if 7 <= hour < 19 else 600.0
        self.now += timedelta(seconds=1 + int(self.rng.expovariate(1.0 / mean)))
        return self.now

    def persona(self) -> _Persona:
        if self.personas and self.rng.random() < 0.12:
            return self.rng.choice(self.personas)
        p = _make_persona(self.rng)
        self.personas.append(p)
        if len(self.personas) > 2000:
            del self.personas[:1000]
        return p

    def pick_earlier(self) -> _Sent:
        back = min(int(self.rng.expovariate(1 / 25.0)), len(self.sent) - 1)
        return self.sent[len(self.sent) - 1 - back]

    # -- headers
    def trace_headers(self, host_domain: str, when: datetime, to: str) -> str:
        rng = self.rng
        self.queue_id += rng.randint(1, 5000)
        host = f"mail-{rng.choice(('out', 'smtp', 'mx', 'relay'))}{rng.randint(1, 40)}.{host_domain}"
        ip = f"198.51.100.{rng.randint(1, 254)}"
        date = format_datetime(when)
        earlier = format_datetime(when - timedelta(seconds=rng.randint(1, 4)))
        lines = [
            f"Return-Path: <{to}>",
            f"Received: from {host} ({host} [{ip}])\n\tby mx1.{self.domain} (Postfix) with ESMTPS id "
            f"{self.queue_id:010X}\n\tfor <{self.support}>; {date}",
            f"Received: by {host} with SMTP id {_alnum(rng, 22)}\n\tfor <{self.support}>; {earlier}",
        ]
        if rng.random() < 0.6:
            sig = base64.b64encode(rng.randbytes(256)).decode("ascii")
            lines.append(
                f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={host_domain}; s=mail{when.year};\n"
                f"\tt={int(when.timestamp())}; h=from:to:subject:date:message-id:mime-version;\n"
                f"\tbh={base64.b64encode(rng.randbytes(32)).decode('ascii')};\n"
                f"\tb={sig[:72]}\n\t " + "\n\t ".join(sig[k : k + 76] for k in range(72, len(sig), 76))
            )
        lines.append(
            f"Authentication-Results: mx1.{self.domain};\n\tdkim=pass header.d={host_domain};\n"
            f"\tspf=pass smtp.mailfrom={host_domain}"
        )
        return "\n".join(lines)

    def client_headers(self, p: _Persona, subject: str) -> str:
        rng = self.rng
        if p.client == "outlook":
            idx = base64.b64encode(rng.randbytes(22)).decode("ascii")
            return (
                f"Thread-Topic: {_encode_subject(subject)}\nThread-Index: {idx}\n"
                f"Accept-Language: en-GB, en-US\nContent-Language: en-GB\nX-MS-Has-Attach: \n"
                f"X-MS-TNEF-Correlator: \nX-Mailer: Microsoft Outlook 16.0"
            )
        if p.client == "apple":
            return f"X-Mailer: Apple Mail (2.{rng.randint(3600, 3800)}.{rng.randint(100, 600)}.1.1)"
        if p.client == "thunderbird":
            return f"User-Agent: Mozilla Thunderbird\nContent-Language: {'de-DE' if p.lang == 'de' else 'en-US'}"
        if p.client == "webmail":
            return f"User-Agent: Roundcube Webmail/1.6.{rng.randint(0, 9)}"
        return ""

    # -- messages
    def customer(
        self,
        label: str,
        *,
        reply: bool,
        html_mode: str,
        n_attachments: int,
        max_attach: int = 40_000,
    ) -> bytes:
        rng = self.rng
        when = self.tick()
        in_reply_to: _Sent | None = self.pick_earlier() if reply and self.sent else None
        if in_reply_to is not None:
            p = in_reply_to.persona
            label = in_reply_to.label
            d = self.followup(in_reply_to, p)
            references = [*in_reply_to.references, in_reply_to.message_id][-12:]
        else:
            p = self.persona()
            d = _compose(rng, label, p, ambiguous=rng.random() < 0.1, support_address=self.support)
            references = []
        slots = _Slots(rng, p)
        text = d.text()
        if p.client == "thunderbird":
            text = _flowed(text)
        charset = "utf-8"
        if p.client in ("outlook", "webmail") and rng.random() < 0.35:
            charset = "windows-1252" if p.client == "outlook" else "iso-8859-1"
        msgid = _message_id(rng, p.client, p.domain, when)
        from_h = _encode_address(p.name, p.address, "iso-8859-1" if rng.random() < 0.3 else "utf-8")

        head = [self.trace_headers(p.domain, when, p.address)]
        head.append("MIME-Version: 1.0")
        head.append(f"Date: {format_datetime(when.astimezone(p.tz))}")
        head.append(f"Message-ID: {msgid}")
        if references:
            head.append(f"In-Reply-To: {references[-1]}")
            head.append(f"References: {_fold_ids(references)}")
        head.append(f"Subject: {_encode_subject(d.subject)}")
        head.append(f"From: {from_h}")
        head.append(f"To: {self._to()}")
        if rng.random() < 0.12:
            cc_name = rng.choice((*_FIRST_EN, *_FIRST_DE, *_FIRST_FR))
            cc_addr = f"{_ascii_slug(cc_name)}@{p.domain}"
            head.append(f"Cc: {formataddr((cc_name + ' ' + rng.choice(_LAST_EN), cc_addr))}")
        extra = self.client_headers(p, d.subject)
        if extra:
            head.append(extra)

        lang_tag = {"de": "DE", "fr": "FR"}.get(p.lang, "EN-GB")
        plain = _body_part(
            "text/plain", text, charset, rng, p.client, "; format=flowed" if p.client == "thunderbird" else ""
        )
        if html_mode == "none":
            body_part = plain
        else:
            html_part = _body_part("text/html", _html(d, p.client, charset, lang_tag), charset, rng, p.client)
            if html_mode == "only":
                body_part = html_part
            else:
                b = _boundary(rng, p.client)
                body_part = (
                    f'Content-Type: multipart/alternative; boundary="{b}"\n\n--{b}\n{plain}\n--{b}\n'
                    f"{html_part}\n--{b}--\n"
                )
        if n_attachments:
            b = _boundary(rng, p.client)
            parts = [body_part]
            budget = max_attach
            for i in range(n_attachments):
                size = int(2048 * 20 ** rng.random())
                if i == n_attachments - 1:
                    size = min(size, max(budget, 2048))
                budget -= size
                parts.append(_attachment(rng, label, size, when, slots))
            body_part = (
                f'Content-Type: multipart/mixed; boundary="{b}"\n\n'
                + "".join(f"--{b}\n{part}\n" for part in parts)
                + f"--{b}--\n"
            )
            if p.client == "outlook":
                head = [h.replace("X-MS-Has-Attach: \n", "X-MS-Has-Attach: yes\n") for h in head]
        raw = "\n".join(head) + "\n" + body_part
        self.sent.append(_Sent(msgid, references, d.subject, p, label, text, when))
        if len(self.sent) > 4000:
            del self.sent[:2000]
        return raw.replace("\n", "\r\n").encode("ascii")

    def _to(self) -> str:
        roll = self.rng.random()
        if roll < 0.5:
            return self.support
        if roll < 0.8:
            return f"Support <{self.support}>"
        return f'"Customer Support" <{self.support}>'

    def followup(self, earlier: _Sent, p: _Persona) -> _Draft:
        rng = self.rng
        slots = _Slots(rng, p)
        bank = _BANKS[earlier.label]
        paragraphs = [_fill(rng.choice(_FOLLOWUPS), slots)]
        if rng.random() < 0.6:
            paragraphs.append(_fill(rng.choice(bank.followups + bank.details), slots))
        if rng.random() < 0.3:
            paragraphs.append(_fill(rng.choice(bank.asks), slots))
        greeting = (
            rng.choice((None, "Hi,", "Hello again,", "Hi,"))
            if p.lang == "en"
            else rng.choice((None, "Hallo,") if p.lang == "de" else (None, "Bonjour,"))
        )
        signoff = [rng.choice(_SIGNOFFS_EN), p.first] if rng.random() < 0.8 else [p.first]
        d = _Draft(
            earlier.label,
            None,
            _subject_of_reply(rng, earlier.subject, p.lang),
            greeting,
            paragraphs,
            signoff,
            None,
        )
        if rng.random() < 0.3:
            d.signature = [p.name, p.company, p.phone]
        when = earlier.date.astimezone(p.tz)
        d.quote_header = (
            f"On {_WEEKDAYS[when.weekday()][:3]}, {when.day} {_MONTHS[when.month - 1][:3]} "
            f"{when.year} at {when:%H:%M}, {p.name} <{p.address}> wrote:"
        )
        lines = earlier.text.split("\n")
        d.quote_lines = lines[:120]
        return d

    def auto_reply(self) -> bytes:
        rng = self.rng
        when = self.tick()
        if self.sent:
            earlier = self.pick_earlier()
            p, subject, refs = earlier.persona, earlier.subject, [earlier.message_id]
        else:
            p = self.persona()
            subject, refs = rng.choice(_BANKS[rng.choice(AREAS)].subjects).format_map(_Slots(rng, p)), []
        ack_id = f"<{_uuid(rng)}@{self.domain}>"
        refs = [*refs, ack_id]
        our_subject = f"[{_ticket_token(rng)}] {_subject_of_reply(rng, subject, 'en')}"
        if p.lang == "de":
            prefix, body = (
                "Abwesenheitsnotiz: ",
                (
                    f"Vielen Dank für Ihre Nachricht. Ich bin bis {_text_date(rng, 'de')} nicht im Büro "
                    f"und lese meine E-Mails nur unregelmäßig. In dringenden Fällen wenden Sie sich bitte an "
                    f"{p.colleague.lower()}@{p.domain}.\n\n{p.name}\n{p.company}"
                ),
            )
        elif p.lang == "fr":
            prefix, body = (
                "Réponse automatique : ",
                (
                    f"Merci pour votre message. Je suis absent(e) jusqu'au {_text_date(rng, 'fr')} "
                    f"et je n'ai qu'un accès limité à mes e-mails. Pour toute urgence, écrivez à "
                    f"{p.colleague.lower()}@{p.domain}.\n\n{p.name}\n{p.company}"
                ),
            )
        else:
            prefix = rng.choice(("Automatic reply: ", "Out of Office: ", "Auto: "))
            body = (
                f"Thanks for your email. I'm out of the office until {_text_date(rng, 'en')} with limited "
                f"access to email. For anything urgent please contact {p.colleague} at "
                f"{p.colleague.lower()}@{p.domain}.\n\nBest regards,\n{p.name}\n{p.company}"
            )
        head = [
            self.trace_headers(p.domain, when, p.address),
            "MIME-Version: 1.0",
            f"Date: {format_datetime(when.astimezone(p.tz))}",
            f"Message-ID: {_message_id(rng, p.client, p.domain, when)}",
            f"In-Reply-To: {ack_id}",
            f"References: {_fold_ids(refs)}",
            f"Subject: {_encode_subject(prefix + our_subject)}",
            f"From: {_encode_address(p.name, p.address)}",
            f"To: {self.support}",
            "Auto-Submitted: auto-replied",
        ]
        if rng.random() < 0.6:
            head.append("X-Autoreply: yes")
        if rng.random() < 0.4:
            head.append("Precedence: auto_reply")
        raw = "\n".join(head) + "\n" + _body_part("text/plain", body, "utf-8", rng, p.client)
        return raw.replace("\n", "\r\n").encode("ascii")

    def bounce(self) -> bytes:
        rng = self.rng
        when = self.tick()
        if self.sent:
            earlier = self.pick_earlier()
            p, subject, orig = earlier.persona, earlier.subject, earlier.message_id
        else:
            p = self.persona()
            subject, orig = "Your request", _message_id(rng, p.client, p.domain, when)
        mx = f"mx{rng.randint(1, 3)}.{p.domain}"
        status, diag = rng.choice(
            (
                ("5.1.1", f"550 5.1.1 <{p.address}>: Recipient address rejected: User unknown"),
                ("5.2.2", f"552 5.2.2 <{p.address}>: Mailbox full"),
                ("5.7.1", "550 5.7.1 Message rejected by recipient policy"),
            )
        )
        ours = f"<{_uuid(rng)}@{self.domain}>"
        sent_at = format_datetime(when - timedelta(seconds=rng.randint(2, 30)))
        b = "=_" + _hex(rng, 24)
        human = (
            f"This is an automatic message from the mail server {mx}.\n\nYour message to {p.address} "
            f"could not be delivered. The receiving server said:\n\n    {diag}\n\nThe message will "
            f"not be retried. Its headers are attached below.\n"
        )
        dsn = (
            f"Reporting-MTA: dns; {mx}\nArrival-Date: {sent_at}\n\nFinal-Recipient: rfc822; {p.address}\n"
            f"Original-Recipient: rfc822;{p.address}\nAction: failed\nStatus: {status}\n"
            f"Remote-MTA: dns; {mx}\nDiagnostic-Code: smtp; {diag}\n"
        )
        our_subject = _encode_subject(f"[{_ticket_token(rng)}] {_subject_of_reply(rng, subject, 'en')}")
        orig_headers = (
            f"Return-Path: <{self.support}>\nFrom: Support <{self.support}>\nTo: {p.address}\n"
            f"Subject: {our_subject}\n"
            f"Date: {sent_at}\nMessage-ID: {ours}\nIn-Reply-To: {orig}\nAuto-Submitted: auto-replied\n"
            'MIME-Version: 1.0\nContent-Type: text/plain; charset="utf-8"\n'
        )
        head = [
            f"Return-Path: <>\nReceived: by {mx} (Postfix)\n\tid {rng.getrandbits(40):010X}; {format_datetime(when)}",
            "MIME-Version: 1.0",
            f"Date: {format_datetime(when.astimezone(p.tz))}",
            f"Message-ID: <{when:%Y%m%d%H%M%S}.{rng.getrandbits(40):010X}@{mx}>",
            f"Subject: {rng.choice(_DSN_SUBJECTS)}",
            f"From: Mail Delivery System <MAILER-DAEMON@{mx}>",
            f"To: {self.support}",
            "Auto-Submitted: auto-replied",
            f'Content-Type: multipart/report; report-type=delivery-status;\n boundary="{b}"',
        ]
        body = (
            f"This is a MIME-encapsulated message.\n\n--{b}\nContent-Description: Notification\n"
            f'Content-Type: text/plain; charset="us-ascii"\n\n{human}\n--{b}\n'
            f"Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n{dsn}\n--{b}\n"
            f"Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n"
            f"{orig_headers}\n--{b}--\n"
        )
        raw = "\n".join(head) + "\n\n" + body
        return raw.replace("\n", "\r\n").encode("ascii")


_DEFAULT_START = datetime(2025, 3, 3, 7, 30, tzinfo=UTC)


def _check_share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")


def generate_emails(
    n: int,
    *,
    seed: int = 11,
    domain: str = "support.example.com",
    reply_share: float = 0.2,
    html_share: float = 0.47,
    attachment_share: float = 0.15,
    auto_share: float = 0.0,
    start: datetime | None = None,
    html_only_share: float = 0.0,
) -> Iterator[tuple[bytes, str | None]]:
    """Yield ``n`` raw inbound messages (CRLF line endings) with their area label (None for automatic mail).

    Replies (``reply_share``) answer an earlier customer message of the same stream: same sender,
    ``Re:`` subject, In-Reply-To/References and the earlier text quoted. ``html_share`` of the messages
    are multipart/alternative; ``html_only_share`` (taken from the rest) are text/html only;
    ``attachment_share`` carry one or two attachments. ``auto_share`` are automatic: out-of-office
    replies and, one in five, delivery status notifications (bounces). The stream is prefix-stable:
    the first k messages do not depend on ``n``.
    """
    for name, value in (
        ("reply_share", reply_share),
        ("html_share", html_share),
        ("attachment_share", attachment_share),
        ("auto_share", auto_share),
        ("html_only_share", html_only_share),
    ):
        _check_share(name, value)
    if n < 0:
        raise ValueError("n must be >= 0")
    if start is None:
        start = _DEFAULT_START
    elif start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    rng = _new_rng(seed)
    factory = _Factory(rng, domain, start)
    areas = list(_AREA_WEIGHTS)
    weights = list(_AREA_WEIGHTS.values())
    for _ in range(n):
        if rng.random() < auto_share:
            yield (factory.bounce() if rng.random() < 0.2 else factory.auto_reply()), None
            continue
        label = rng.choices(areas, weights)[0]
        reply = rng.random() < reply_share
        roll = rng.random()
        html_mode = "alt" if roll < html_share else "only" if roll < html_share + html_only_share else "none"
        n_att = (1 if rng.random() < 0.7 else 2) if rng.random() < attachment_share else 0
        raw = factory.customer(label, reply=reply, html_mode=html_mode, n_attachments=n_att)
        yield raw, factory.sent[-1].label


def demo_mailbox(n: int = 60, *, seed: int = 3) -> list[bytes]:
    """The sample mail ``routedesk demo`` loads, oldest first: first contacts over all areas, a few
    replies, an out-of-office auto-reply, a bounce, one HTML-only mail and one with an attachment.

    With ``n >= 5`` every special kind is present, with ``n >= 12`` every area as well.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = _new_rng(seed)
    factory = _Factory(rng, "support.example.com", _DEFAULT_START)
    # First contacts over the areas, then the special kinds (they refer back to earlier mail).
    head = min(n, len(AREAS), max(n - 4, 1))
    rest = n - head
    kinds = ["auto", "bounce", "html_only", "attachment"][:rest]
    kinds += ["reply"] * min(max(rest // 8, 2), rest - len(kinds))
    kinds += ["plain"] * (rest - len(kinds))
    rng.shuffle(kinds)
    first = list(AREAS)
    rng.shuffle(first)
    out: list[bytes] = []
    for area in first[:head]:
        out.append(
            factory.customer(area, reply=False, html_mode="alt" if rng.random() < 0.4 else "none", n_attachments=0)
        )
    for kind in kinds:
        area = rng.choices(list(_AREA_WEIGHTS), list(_AREA_WEIGHTS.values()))[0]
        if kind == "auto":
            out.append(factory.auto_reply())
        elif kind == "bounce":
            out.append(factory.bounce())
        elif kind == "html_only":
            out.append(factory.customer(area, reply=False, html_mode="only", n_attachments=0))
        elif kind == "attachment":
            out.append(factory.customer(area, reply=False, html_mode="none", n_attachments=1, max_attach=12_000))
        elif kind == "reply":
            out.append(factory.customer(area, reply=True, html_mode="none", n_attachments=0))
        else:
            out.append(
                factory.customer(area, reply=False, html_mode="alt" if rng.random() < 0.4 else "none", n_attachments=0)
            )
    return out
