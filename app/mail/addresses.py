"""Is this an address mail can be sent to? One rule for acknowledgements, agents' replies and the sender;
and the one rule for the first name a display name greets its sender by.

An address is `local@domain` as RFC 5321 (and RFC 6531 for non-ASCII) has it on the SMTP command line:
- the local part is a dot-atom of atext (RFC 5322 3.2.3) or UTF-8 characters, at most 64 octets.
  Quoted local parts (`"john smith"@example.com`) are refused: valid, but practically unused, and a
  space or a comma in an address is what malformed From lines produce;
- the domain is a host name of at least two labels (each 1-63 characters of letters, digits and inner
  hyphens once IDNA-encoded, the last not all digits), at most 253 octets, or an address literal
  (`[192.0.2.1]`, `[IPv6:2001:db8::1]`);
- the whole is at most 254 octets, with no whitespace or control character anywhere.

So `a`, `@powerupdev.com`, `big bug bb@bug.com` and `=?utf-8?b?...?=` are refused (with a reason, for
the ticket), and `jdöe@mächine.example` is valid: it needs SMTPUTF8 for its local part only, and its
domain travels as `xn--mchine-kva.example`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
# Dot-atom of atext, where any non-ASCII character (RFC 6531's UTF8-non-ascii) also counts as atext.
_DOT_ATOM = re.compile(rf"[{_ATEXT}\u0080-\U0010ffff]+(?:\.[{_ATEXT}\u0080-\U0010ffff]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# Whitespace, C0/C1 controls, and the surrogates a bad decode leaves behind.
_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")

MAX_ADDRESS_OCTETS = 254
MAX_LOCAL_OCTETS = 64
MAX_DOMAIN_OCTETS = 253


class InvalidAddress(ValueError):
    """The address cannot be the recipient (or sender) of a mail; `str()` says why, for people."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """An address as it goes on the SMTP command line."""

    address: str  # the domain IDNA-encoded; the local part as written
    needs_smtputf8: bool  # the local part is not ASCII: only a server offering SMTPUTF8 can take it


def envelope_address(address: str) -> Envelope:
    """The address as sent in MAIL FROM / RCPT TO. Raises InvalidAddress when it is no address."""
    if not isinstance(address, str) or not address:
        raise InvalidAddress("the address is empty")
    shown = address if len(address) <= 80 else address[:77] + "..."
    if _FORBIDDEN.search(address):
        raise InvalidAddress(f"{shown!r} contains a space or a control character")
    local, at, domain = address.rpartition("@")
    if not at:
        raise InvalidAddress(f"{shown!r} has no @")
    if not local:
        raise InvalidAddress(f"{shown!r} has nothing before the @")
    if not domain:
        raise InvalidAddress(f"{shown!r} has no domain after the @")
    if not _DOT_ATOM.fullmatch(local):
        raise InvalidAddress(f"{shown!r} has a local part that is not a valid mailbox name")
    if len(local.encode("utf-8")) > MAX_LOCAL_OCTETS:
        raise InvalidAddress(f"{shown!r} has a local part longer than {MAX_LOCAL_OCTETS} octets")
    ascii_domain = _domain(domain, shown)
    result = f"{local}@{ascii_domain}"
    if len(result.encode("utf-8")) > MAX_ADDRESS_OCTETS:
        raise InvalidAddress(f"{shown!r} is longer than {MAX_ADDRESS_OCTETS} octets")
    return Envelope(address=result, needs_smtputf8=not local.isascii())


def _domain(domain: str, shown: str) -> str:
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        try:
            if literal[:5].lower() == "ipv6:":
                ipaddress.IPv6Address(literal[5:])
            else:
                ipaddress.IPv4Address(literal)
        except ValueError:
            raise InvalidAddress(f"{shown!r} has an address literal that is no IP address") from None
        return domain
    if domain.isascii():
        ascii_domain = domain
    else:
        try:
            ascii_domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidAddress(f"{shown!r} has a domain that is no valid international name") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2:
        raise InvalidAddress(f"{shown!r} has a domain without a dot")
    if len(ascii_domain) > MAX_DOMAIN_OCTETS or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidAddress(f"{shown!r} has a domain that is no valid host name")
    if labels[-1].isdigit():
        raise InvalidAddress(f"{shown!r} has a numeric top-level domain (an IP address goes in brackets)")
    return ascii_domain


def address_problem(address: str | None) -> str | None:
    """Why no mail can go to this address, or None when it is a valid one."""
    if address is None:
        return "there is no address"
    try:
        envelope_address(address)
    except InvalidAddress as exc:
        return str(exc)
    return None


def is_valid_address(address: str | None) -> bool:
    return address_problem(address) is None


def first_name(display_name: str | None) -> str | None:
    """The name to greet a sender by: "Jane" from "Jane Doe", "Doe, Jane" and "'Jane Doe'"; None when there
    is none, including from an address used as a name, so that the greeting's fallback is used instead of
    "Hi jane@x.example"."""
    name = (display_name or "").strip().strip("'\"").strip()
    if "@" in name:
        return None
    if "," in name:  # family name first, as directories and some mail clients write it
        name = name.split(",", 1)[1]
    words = name.split()
    return words[0] if words else None
