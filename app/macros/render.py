"""Macro bodies as text: which placeholders exist, what they render as, and the values a ticket gives."""

from __future__ import annotations

import re
from collections.abc import Mapping

from app.errors import InvalidInput
from app.mail.addresses import first_name

# The allowed placeholders, each with what it renders as when the ticket has no value for it: neutral
# words that still read in a sentence ("Hi {customer_first_name}," -> "Hi there,").
FALLBACKS: dict[str, str] = {
    "customer_name": "there",
    "customer_first_name": "there",
    "customer_email": "your email address",
    "ticket_reference": "your ticket",
    "ticket_subject": "your request",
    "agent_name": "the support team",
    "area_title": "support",
    "company": "our support team",
}
PLACEHOLDERS = frozenset(FALLBACKS)

# A placeholder is an identifier in single braces. Doubled braces ({{name}}, Jinja), a dollar sign before
# it (${name}) and anything else between braces ({0}, {a.b}, {name!r}, {name:>9}, {% if %}) are not
# placeholders: they stay literal text.
_TOKEN = re.compile(r"(?<![{$])\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


def render(body: str, values: Mapping[str, str]) -> str:
    """The body with each allowed placeholder replaced by its value, or its fallback when the value is
    missing or blank. One regex pass with a function as the replacement: values go in verbatim and are
    never scanned again, and nothing of str.format or a template engine ever sees the text."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PLACEHOLDERS:
            return match.group(0)
        value = values.get(name)
        return value if isinstance(value, str) and value.strip() else FALLBACKS[name]

    return _TOKEN.sub(replace, body)


def without_placeholders(body: str) -> str:
    """The body with every placeholder-shaped token blanked out."""
    return _TOKEN.sub(" ", body)


def validate_template(body: str) -> list[str]:
    """Names written as placeholders that are not allowed ones, in order of first appearance."""
    return list(dict.fromkeys(name for name in _TOKEN.findall(body) if name not in PLACEHOLDERS))


def check_template(body: str) -> None:
    unknown = validate_template(body)
    if unknown:
        raise InvalidInput(
            f"unknown placeholders: {', '.join('{' + name + '}' for name in unknown)}; "
            f"the allowed ones are {', '.join('{' + name + '}' for name in sorted(PLACEHOLDERS))}"
        )


def placeholder_values(
    *,
    customer_name: str | None = None,
    customer_email: str | None = None,
    ticket_reference: str | None = None,
    ticket_subject: str | None = None,
    agent_name: str | None = None,
    area_title: str | None = None,
    company: str | None = None,
) -> dict[str, str]:
    """The values `render` takes, from what a ticket knows; the first name is derived from the name."""
    values = {
        "customer_name": customer_name,
        "customer_first_name": first_name(customer_name),
        "customer_email": customer_email,
        "ticket_reference": ticket_reference,
        "ticket_subject": ticket_subject,
        "agent_name": agent_name,
        "area_title": area_title,
        "company": company,
    }
    return {name: value.strip() for name, value in values.items() if value and value.strip()}


def placeholders_in(body: str) -> list[str]:
    """The allowed placeholders a body uses, in order of first appearance."""
    return list(dict.fromkeys(name for name in _TOKEN.findall(body) if name in PLACEHOLDERS))
