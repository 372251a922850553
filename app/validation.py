"""One rule for every piece of text the API takes in (body fields, path and query parameters), and the
bounds on what a refusal of invalid input may cost.

Text the database or a mail header cannot carry must be refused as invalid input, never reach SQL:
PostgreSQL refuses NUL in text, no driver can encode a lone surrogate, and a line break in a header
field starts a new header. So every `str` input is `Line` (one line: a name, a host, a search) or `Text`
(a reply, a note, a macro body), or carries `LINE`/`TEXT` in its `Annotated` metadata.
tests/api/test_text_input.py walks every route and fails for a text input without the rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, SecretStr
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# C0 controls (tab allowed), DEL, C1 controls and the surrogate range: a surrogate in a Python str is
# always a lone one, since a valid pair decodes to one astral code point.
_LINE_REFUSED = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
# Multi-line text may also carry line feeds and carriage returns.
_TEXT_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# The error types the rule raises (`type` in a 422's `fields`).
TEXT_ERROR_TYPES = frozenset({"text_control_character", "text_line_break", "text_surrogate"})


class TextRule:
    """Pydantic metadata: refuse text with characters no stored or sent text may hold. Runs before the
    type's own checks, so the answer names the character whatever other constraint the field has."""

    def __init__(self, *, multiline: bool) -> None:
        self.multiline = multiline
        self._refused = _TEXT_REFUSED if multiline else _LINE_REFUSED

    def __repr__(self) -> str:
        return "TEXT" if self.multiline else "LINE"

    def is_valid(self, text: str) -> bool:
        """Whether `text` holds no character this rule refuses (for input read outside pydantic)."""
        return self._refused.search(text) is None

    def check(self, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(text, str):
            return value  # not text: the type's own validation refuses it
        found = self._refused.search(text)
        if found is None:
            return value
        char, at = found.group(), found.start()
        # The message names the code point and position, never the text: it may be a password.
        if "\ud800" <= char <= "\udfff":
            raise PydanticCustomError(
                "text_surrogate", "not valid Unicode: a lone surrogate U+{code} at position {at}",
                {"code": f"{ord(char):04X}", "at": at},
            )  # fmt: skip
        if char in "\n\r":
            raise PydanticCustomError(
                "text_line_break", "must be a single line: a line break at position {at}", {"at": at}
            )
        raise PydanticCustomError(
            "text_control_character", "must not contain control characters: U+{code} at position {at}",
            {"code": f"{ord(char):04X}", "at": at},
        )  # fmt: skip

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Documented for clients; tests/api/test_text_input.py also checks the schema for it.
        json_schema = handler.resolve_ref_schema(handler(schema))
        json_schema["x-text"] = "multiline" if self.multiline else "line"
        return json_schema


LINE = TextRule(multiline=False)
TEXT = TextRule(multiline=True)

Line = Annotated[str, LINE]
Text = Annotated[str, TEXT]
SecretLine = Annotated[SecretStr, LINE]
# The rule outside the union, not `Line | None`: pydantic then still applies a field's length limits as
# string constraints (with their usual messages) instead of a generic check.
OptionalLine = Annotated[str | None, LINE]
OptionalText = Annotated[str | None, TEXT]
OptionalSecretLine = Annotated[SecretStr | None, LINE]


# A refusal of invalid input stays small whatever the input: a body of a million unknown keys must not
# come back as a million errors, nor a megabyte-long key as a megabyte-long `loc`.
MAX_ERROR_FIELDS = 20
MAX_ERROR_MESSAGE = 200
MAX_LOC_PARTS = 8
MAX_LOC_PART = 64


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_fields(errors: Sequence[Any]) -> tuple[list[dict[str, Any]], int]:
    """The first errors, each clipped, as the 422 body lists them; and how many were left out. The
    offending input is never included: it may be huge, or a secret typed into the wrong field."""
    fields = []
    for err in errors[:MAX_ERROR_FIELDS]:
        loc = [clip(str(part), MAX_LOC_PART) for part in err.get("loc", ())]
        if len(loc) > MAX_LOC_PARTS:
            loc = [*loc[: MAX_LOC_PARTS - 1], "…"]
        fields.append(
            {
                "loc": loc,
                "msg": clip(str(err.get("msg", "")), MAX_ERROR_MESSAGE),
                "type": clip(str(err.get("type", "")), MAX_LOC_PART),
            }
        )
    return fields, max(0, len(errors) - len(fields))


def error_summary(fields: list[dict[str, Any]], omitted: int) -> str:
    summary = "; ".join(f"{'.'.join(f['loc'])}: {f['msg']}" for f in fields[:5])
    more = len(fields) - 5 + omitted if len(fields) > 5 else omitted
    return f"{summary}; and {more} more" if more else summary
