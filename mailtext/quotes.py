from __future__ import annotations

import re
from collections.abc import Callable

# This runs on every inbound message, so it is written for speed: the text is searched with a "\n" put
# in front, and every line pattern starts with a literal "\n", which lets the regex engine jump from
# newline to newline instead of trying each position; keyword tests with `in` skip whole searches for
# the majority of messages that are not replies.

# The first line of an attribution ("On ... wrote:", "Am ... schrieb ...:", "Le ... a écrit :", and
# their Spanish, Italian, Dutch, Portuguese, Scandinavian and Polish cousins). Clients wrap it, so the
# verb may sit on one of the next two lines.
_ATTRIBUTION_START = re.compile(r"\n[ \t]*(?:on|am|le|el|il|op|em|den|på|w dniu)[ \t]", re.I)
_ATTRIBUTION_END = re.compile(
    r"(?:\bwrote|\bschrieb\b.*|\ba\s+écrit|\bescribió|\bha\s+scritto|\bschreef\b.*|\bescreveu|\bskrev\b.*"
    r"|\bnapisał\b.*)\s*:\s*$",
    re.I,
)
# "Jane Doe <jane@example.com> wrote:" directly above quoted lines (Thunderbird, mutt).
# Found from the colon that ends a line (a literal the engine can jump to), then checked for the verb.
_COLON_AT_LINE_END = re.compile(r":[ \t]*(?=\n|\Z)")
_SHORT_ATTRIBUTION = re.compile(r"(?:\bwrote|\bschrieb|\ba\s+écrit|\bescribió|\bschreef)\s*$", re.I)

_SEPARATOR = re.compile(
    r"\n[ \t]*-{3,}[ \t]*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original"
    r"|Messaggio originale|Oorspronkelijk bericht|Originalmeddelande|Original meddelelse"
    r"|Alkuperäinen viesti|Oryginalna wiadomość|Mensagem original)[ \t]*-{3,}[ \t]*(?=\n|\Z)",
    re.I,
)
# Outlook pastes the parent's headers in the body: "From: ... Sent: ... To: ... Subject: ...", in the
# client's language, sometimes in bold (*From:*) when converted from HTML.
_HEADER_FROM = re.compile(r"\n[ \t*]*(?:from|von|de|van|da|från|fra|od)[ \t]*\*?[ \t]*:", re.I)
_HEADER_FIELD = re.compile(
    r"[ \t*]*(?:Sent|Date|To|Cc|Subject|Gesendet|Datum|An|Betreff|Envoyé|À|A|Objet|Enviado|Para|Asunto"
    r"|Inviato|Oggetto|Verzonden|Aan|Onderwerp|Skickat|Till|Ämne|Sendt|Til|Emne)[ \t]*\*?[ \t]*:",
    re.I,
)
_SIGNATURE = re.compile(r"\n--[ \t]?(?=\n|\Z)")
_MOBILE_FOOTER = re.compile(
    r"\n[ \t]*(?:Sent from my \w[^\n]{0,40}|Sent from (?:Outlook|Mail|Yahoo Mail|Samsung)[^\n]{0,40}"
    r"|Get Outlook for (?:iOS|Android)[^\n]{0,20}|Sent via [^\n]{0,40}"
    r"|Von meinem \w[^\n]{0,40} gesendet|Gesendet von meinem \w[^\n]{0,40}|Gesendet mit [^\n]{0,40}"
    r"|Envoyé de mon \w[^\n]{0,40}|Envoyé depuis mon \w[^\n]{0,40}"
    r"|Enviado desde mi \w[^\n]{0,40}|Inviato da \w[^\n]{0,40}|Verzonden vanaf mijn \w[^\n]{0,40})"
    r"[ \t]*(?=\n|\Z)",
    re.I,
)
# No re.I here: case-insensitive matching is several times slower, and a presence test may be loose.
_MARKERS = re.compile(
    r"\n[ \t*]*(?:"
    r"(?P<attribution>(?:[Oo]n|[Aa]m|[Ll]e|[Ee]l|[Ii]l|[Oo]p|[Ee]m|[Dd]en|[Pp]å|W dniu)[ \t])"
    r"|(?P<header>(?:[Ff]rom|FROM|[Vv]on|VON|[Dd]e|DE|[Vv]an|[Dd]a|[Ff]rån|[Ff]ra|[Oo]d)[ \t]*\*?[ \t]*:)"
    r"|(?P<separator>-{3,})"
    r"|(?P<signature>--[ \t]?(?=\n|\Z))"
    r"|(?P<footer>[Ss]ent |[Gg]et [Oo]utlook|[Vv]on meinem|[Gg]esendet|[Ee]nvoy|[Ee]nviado|[Ii]nviato"
    r"|[Vv]erzonden))"
)
_QUOTED_LINE = re.compile(r"\n[ \t]*>[^\n]*")
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")
_UNDERSCORES = re.compile(r"\n[ \t]*_{8,}[ \t]*\n?\Z")


def strip_quoted(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    marked = "\n" + text
    # One pass over line starts says which of the (slower, exact) searches below are worth running.
    kinds = {found.lastgroup for found in _MARKERS.finditer(marked)}
    quoted = "\n>" in marked
    if not kinds and not quoted:
        return text.strip()
    body = _cut_history(marked, kinds, quoted)
    if quoted:
        body = _QUOTED_LINE.sub("", body)
    if "signature" in kinds:
        found = _SIGNATURE.search(body)
        if found:
            body = body[: found.start()]
    if "footer" in kinds:
        found = _MOBILE_FOOTER.search(body)
        if found:
            body = body[: found.start()]
    if body == marked:
        return text.strip()
    result = _BLANK_RUNS.sub("\n\n", body).strip()
    # Nothing left means the message was all quote or signature (a bare forward, a "see below"
    # reply whose text we misread): the whole text is then a better guess than nothing.
    return result if result else text.strip()


def _cut_history(text: str, kinds: set[str | None], quoted: bool) -> str:
    cut = len(text)
    if "attribution" in kinds:
        starts = [found.start() for found in _ATTRIBUTION_START.finditer(text)]
        text, cut = _drop_attributions(text, starts, _attribution_end, stop=True)
    if "separator" in kinds:
        found = _SEPARATOR.search(text, 0, cut)
        if found:
            cut = found.start()
    if "header" in kinds:
        for found in _HEADER_FROM.finditer(text, 0, cut):
            if _is_header_block(text, found.end()):
                cut = found.start()
                break
    if quoted:
        starts = []
        for found in _COLON_AT_LINE_END.finditer(text, 0, cut):
            line_start = text.rfind("\n", 0, found.start())
            if _SHORT_ATTRIBUTION.search(text, line_start, found.start()):
                starts.append(line_start)
        if starts:
            text, cut = _drop_attributions(text[:cut], starts, _line_end, stop=False)
    head = text[:cut]
    # Outlook draws a line of underscores above the pasted headers.
    return _UNDERSCORES.sub("", head) if cut < len(text) else head


def _drop_attributions(
    text: str, starts: list[int], end_of: Callable[[str, int], int | None], *, stop: bool
) -> tuple[str, int]:
    # An attribution that heads ">" quotes is dropped alone (the quote lines go later), so bottom-posted
    # and interleaved answers survive; one that heads unquoted history (Outlook, HTML converted
    # without ">") cuts the text there when `stop`.
    kept: list[str] = []
    pos = 0
    cut = len(text)
    for start in starts:  # each the "\n" before a candidate line
        if start < pos:
            continue
        end = end_of(text, start + 1)
        if end is None:
            continue
        if _followed_by_quote(text, end):
            kept.append(text[pos:start])
            pos = end
        elif stop:
            cut = start
            break
    if not kept:
        return text, cut
    removed = pos - sum(len(piece) for piece in kept)
    return "".join(kept) + text[pos:], cut - removed


def _attribution_end(text: str, start: int) -> int | None:
    pos = start
    for _ in range(3):
        newline = text.find("\n", pos)
        line_end = len(text) if newline < 0 else newline
        joined = text[start:line_end].replace("\n", " ")
        if len(joined) > 400:
            return None
        if _ATTRIBUTION_END.search(joined):
            # a date is what tells an attribution from a sentence that starts with "On" and ends "wrote:"
            return line_end if any(c.isdigit() for c in joined) else None
        if newline < 0:
            return None
        pos = newline + 1
    return None


def _line_end(text: str, start: int) -> int | None:
    newline = text.find("\n", start)
    line_end = len(text) if newline < 0 else newline
    line = text[start:line_end]
    return line_end if 0 < len(line) <= 200 and ">" not in line.lstrip()[:1] else None


def _followed_by_quote(text: str, pos: int) -> bool:
    return text[pos : pos + 2000].lstrip().startswith(">")


def _is_header_block(text: str, pos: int) -> bool:
    # The "From:" line must be followed within a few lines by at least two more header fields.
    fields = 0
    for line in text[pos : pos + 1500].split("\n", 9)[1:9]:
        if _HEADER_FIELD.match(line):
            fields += 1
            if fields >= 2:
                return True
    return False
