"""Header fields: the header block, charsets, RFC 2047 encoded words, MIME parameters, addresses,
message ids and dates. Every reader notes what it had to repair in the message's list of defects."""

from __future__ import annotations

import binascii
import codecs
import re
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses, parsedate_tz
from functools import lru_cache
from urllib.parse import unquote_to_bytes

MAX_DEFECTS = 50


def add_defect(defects: list[str], note: str) -> None:
    if len(defects) < MAX_DEFECTS and note not in defects:
        defects.append(note)


# ---------------------------------------------------------------------------------------------------
# the header block

# Header lines in one C-speed match: an optional mbox "From " line, then field lines and their
# continuations. Where the match stops is where the header block ends, blank line or not.
_HEADER_BLOCK = re.compile(
    rb"(?:From [^\n]*\n)?(?:[ \t][^\n]*(?:\n|\Z))*"
    rb"(?:[!-9;-~]+[ \t]*:[^\n]*(?:\n|\Z)(?:[ \t][^\n]*(?:\n|\Z))*)*"
)


def split_entity(data: bytes, defects: list[str]) -> tuple[list[tuple[str, str, str]], bytes]:
    if data.startswith(b"\n"):
        return [], data[1:]
    if data.startswith(b"\r\n"):
        return [], data[2:]
    found = _HEADER_BLOCK.match(data)
    end = found.end() if found else 0
    rest = data[end:]
    if rest.startswith(b"\r\n"):
        body = rest[2:]
    elif rest.startswith(b"\n") or rest.startswith(b"\r"):
        body = rest[1:]
    else:
        body = rest
        if rest:
            add_defect(defects, "no blank line between headers and body")
    return _header_fields(data[:end], defects), body


def _header_fields(block: bytes, defects: list[str]) -> list[tuple[str, str, str]]:
    # -> (name as written, lowercased name, unfolded value)
    if not block:
        return []
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        add_defect(defects, "raw 8-bit bytes in headers that are not UTF-8, read as windows-1252")
        text = "\n".join(_decode_header_line(line) for line in block.split(b"\n"))
    if text.startswith("From ") and not text[5:].lstrip().startswith(":"):
        text = text.partition("\n")[2]  # the mbox envelope line
    if text[:1] in (" ", "\t"):
        add_defect(defects, "header block starts with a continuation line")
    # Every line break inside a matched value precedes white space, so unfolding is dropping them.
    return [
        (name, name.lower(), (value.replace("\r", "").replace("\n", "") if "\n" in value else value).strip())
        for name, value in _FIELD.findall(text)
    ]


_FIELD = re.compile(r"^([^\s:][^:\n]*?)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)", re.M)


def _decode_header_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", "replace")


def first_values(headers: list[tuple[str, str, str]]) -> dict[str, str]:
    first: dict[str, str] = {}
    for _, lower, value in headers:
        if lower not in first:
            first[lower] = value
    return first


# ---------------------------------------------------------------------------------------------------
# Content-Type, Content-Disposition and their parameters (RFC 2045, 2183, 2231)

_TYPE = re.compile(r"\s*([^\s;/\"]+)\s*/\s*([^\s;\"]+)")
# The bound on the name keeps a long run of token characters with no "=" from costing quadratic time.
_PARAM = re.compile(r"""([^\s=;"]{1,100})\s*=\s*("(?:[^"\\]|\\.)*(?:"|$)|[^;]*)""", re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)


def parse_content_type(value: str | None, default: str, defects: list[str]) -> tuple[str, dict[str, str]]:
    if value is None:
        return default, {}
    found = _TYPE.match(value)
    if not found:
        if value.strip():
            add_defect(defects, f"invalid Content-Type {value[:60]!r}, read as {default}")
        return default, _params(value.partition(";")[2], defects)
    ctype = f"{found.group(1)}/{found.group(2)}".lower()
    rest = value[found.end() :]
    return ctype, _params(rest, defects) if "=" in rest else {}


def parse_disposition(value: str | None, defects: list[str]) -> tuple[str | None, dict[str, str]]:
    if value is None:
        return None, {}
    kind, _, rest = value.partition(";")
    kind = kind.strip().lower()
    if "=" in kind:  # "Content-Disposition: filename=x.pdf": no type, only parameters
        return None, _params(value, defects)
    return kind or None, _params(rest, defects) if "=" in rest else {}


def _params(text: str, defects: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    sections: dict[str, list[tuple[int, bool, str]]] = {}
    for found in _PARAM.finditer(text):
        key = found.group(1).lower()
        value = found.group(2)
        if value.startswith('"'):
            value = value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:]
            if "\\" in value:
                value = _ESCAPE.sub(r"\1", value)
        else:
            value = value.strip()
        if "*" in key:
            # RFC 2231: "name*" is percent-encoded with a charset, "name*0", "name*1*"... are sections
            extended = key.endswith("*")
            base, _, index = key.removesuffix("*").partition("*")
            if not index or (index.isascii() and index.isdigit()):
                sections.setdefault(base, []).append((int(index or 0), extended, value))
                continue
        params.setdefault(key, value)
    for name, pieces in sections.items():
        params[name] = _rfc2231(pieces, defects)
    return params


def _rfc2231(pieces: list[tuple[int, bool, str]], defects: list[str]) -> str:
    pieces.sort(key=lambda piece: piece[0])
    charset = None
    data = bytearray()
    for position, (_, extended, value) in enumerate(pieces):
        if extended:
            if position == 0 and value.count("'") >= 2:
                charset, _language, value = value.split("'", 2)
            data += unquote_to_bytes(value)
        else:
            data += value.encode("utf-8")
    return decode_bytes(bytes(data), charset or None, defects, "parameter")


def part_filename(disposition_params: dict[str, str], params: dict[str, str], defects: list[str]) -> str | None:
    raw = disposition_params.get("filename") or params.get("name")
    if not raw:
        return None
    name = decode_header_words(raw, defects)
    # The name is the sender's to choose, the path is not: keep the last component only.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c >= " " and c != "\x7f").strip()
    return name if name and name not in (".", "..") else None


# ---------------------------------------------------------------------------------------------------
# charsets

_ALIASES = {
    # WHATWG's decoding rules, which match what mail clients actually send under these labels
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "korean": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "csshiftjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "csiso2022jp": "iso2022_jp_ext",
    "big5": "big5hkscs",
    "iso-8859-8-i": "iso8859-8",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
}
# Real text encodings that nonetheless have no business decoding mail.
_REFUSED = frozenset({"unicode-escape", "raw-unicode-escape", "undefined", "idna", "punycode", "mbcs", "oem"})
# ASCII plus what stateful encodings (ISO-2022-*, UTF-7, HZ) read as shifts: it decodes to itself only
# in encodings where pure-ASCII bytes may skip the decoder.
_ASCII_SAMPLE = bytes(range(0x80)) + b"+AGE- \x1b$B%F\x1b(B ~{<:~}"
_DECLARED_SINGLE_BYTE_WESTERN = frozenset({"cp1252"})
_ASCII_LABELS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968"})


@lru_cache(maxsize=256)
def _codec(label: str) -> tuple[str | None, bool]:
    # -> (Python codec name or None when unknown, whether ASCII bytes decode to themselves in it)
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None, True
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None, True
    try:
        ascii_safe = _ASCII_SAMPLE.decode(info.name) == _ASCII_SAMPLE.decode("ascii")
    except (UnicodeDecodeError, LookupError):
        ascii_safe = False
    return info.name, ascii_safe


def decode_bytes(data: bytes, label: str | None, defects: list[str], where: str) -> str:
    codec, ascii_safe = _codec(label[:64]) if label else (None, True)
    if label and codec is None:
        add_defect(defects, f"unknown charset {label[:40]!r} in {where}")
    if ascii_safe and data.isascii():
        return data.decode("ascii")
    if codec is None:
        if not label:
            add_defect(defects, f"8-bit {where} without a charset")
        return _guess(data, defects, where)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        return _declared_wrong(data, codec, label or codec, defects, where)
    except LookupError:
        return _guess(data, defects, where)
    if codec in _DECLARED_SINGLE_BYTE_WESTERN and label:
        if label.strip("\"' ").lower() in _ASCII_LABELS:
            add_defect(defects, f"{where} declared {label} has 8-bit bytes")
        # Valid UTF-8 with multi-byte sequences is almost never intended windows-1252/latin-1 text.
        try:
            utf8 = data.decode("utf-8")
        except UnicodeDecodeError:
            return text
        add_defect(defects, f"{where} declared {label} is UTF-8")
        return utf8
    return text


_DECODED_NON_ASCII = re.compile("[^\x00-\x7f\ufffd]")


def _declared_wrong(data: bytes, codec: str, label: str, defects: list[str], where: str) -> str:
    if codec == "utf-8":
        text = data.decode("utf-8", "replace")
        # Mostly UTF-8 with a few broken bytes: keep it; no multi-byte character at all: 8-bit legacy.
        if _DECODED_NON_ASCII.search(text):
            add_defect(defects, f"{where} declared {label} has invalid UTF-8 bytes, replaced")
            return text
        add_defect(defects, f"{where} declared {label} is not UTF-8, read as windows-1252")
        return data.decode("cp1252", "replace")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        add_defect(defects, f"{where} declared {label} has bytes invalid in it, replaced")
        return data.decode(codec, "replace")
    add_defect(defects, f"{where} declared {label} is UTF-8")
    return text


def _guess(data: bytes, defects: list[str], where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        add_defect(defects, f"{where} is not UTF-8, read as windows-1252")
        return data.decode("cp1252", "replace")


# ---------------------------------------------------------------------------------------------------
# header values

_ENCODED_WORD = re.compile(r"=\?([^?\s]+?)\?([qQbB])\?([^?]*?)\?=")


def decode_header_words(value: str, defects: list[str] | None = None) -> str:
    """RFC 2047 encoded words in a header value, leniently: adjacent words of one charset are joined
    before decoding (a character may be split across two), and broken words stay as they were."""
    if "=?" not in value:
        return value
    notes = [] if defects is None else defects
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    pos = 0
    after_word = False
    for found in _ENCODED_WORD.finditer(value):
        between = value[pos : found.start()]
        # white space between two encoded words is folding, not text (RFC 2047 6.2)
        adjacent = after_word and (not between or between.isspace())
        charset = found.group(1).partition("*")[0]  # RFC 2231 language suffix: "utf-8*en"
        if pending and (not adjacent or charset.lower() != pending_charset.lower()):
            out.append(decode_bytes(bytes(pending), pending_charset, notes, "header"))
            pending = bytearray()
        if not adjacent:
            out.append(between)
        encoded = found.group(3)
        if found.group(2) in "bB":
            pending += _header_b64(encoded, notes)
        else:
            pending += binascii.a2b_qp(encoded.encode("utf-8", "replace"), header=True)
        pending_charset = charset
        pos = found.end()
        after_word = True
    if pending:
        out.append(decode_bytes(bytes(pending), pending_charset, notes, "header"))
    out.append(value[pos:])
    return "".join(out)


NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def _header_b64(encoded: str, defects: list[str]) -> bytes:
    data = encoded.encode("ascii", "replace")
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        add_defect(defects, "broken base64 in an encoded header word")
        cleaned = NOT_BASE64.sub(b"", data.split(b"=", 1)[0])
        if len(cleaned) % 4 == 1:
            cleaned = cleaned[:-1]
        try:
            return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
        except binascii.Error:
            return b""


def collapse(text: str) -> str:
    return " ".join(text.split())


_SIMPLE_ADDRESS = re.compile(r"\s*<?([^<>\s,;:\"()@]+@[^<>\s,;:\"()@]+)>?\s*")
_NAMED_ADDRESS = re.compile(r"\s*(?:\"((?:[^\"\\]|\\.)*)\"|([^<>\",;:@()]*?))\s*<([^<>\s,;\"]*)>\s*")


def address_list(value: str | None, defects: list[str]) -> list[tuple[str, str]]:
    if not value:
        return []
    # Most headers are "Name <addr>" or bare addresses: read those with two regexes; anything else
    # (groups, comments, quoted commas) goes to the stdlib's RFC 5322 address parser.
    pairs: list[tuple[str, str]] | None = None
    if len(value) > 2000:
        pass  # the regexes backtrack on long runs of spaces; long lists are rare enough for the slow path
    elif "(" not in value and '"' not in value:
        pairs = _simple_addresses(value.split(","))
    elif "(" not in value and "," not in value and value.count('"') == 2:
        pairs = _simple_addresses([value])
    if pairs is None:
        try:
            pairs = getaddresses([value])
        except Exception:  # the stdlib parser is lenient but old; a bad header must not be a crash
            add_defect(defects, "unreadable address header")
            return []
    result = []
    for name, addr in pairs:
        addr = addr.strip().lower()
        if addr:
            result.append((decode_header_words(name, defects).strip() if name else "", addr))
    return result


def _simple_addresses(items: list[str]) -> list[tuple[str, str]] | None:
    pairs = []
    for item in items:
        if not item or item.isspace():
            continue
        found = _SIMPLE_ADDRESS.fullmatch(item)
        if found:
            pairs.append(("", found.group(1)))
            continue
        found = _NAMED_ADDRESS.fullmatch(item)
        if not found:
            return None
        quoted = found.group(1)
        name = found.group(2) if quoted is None else _ESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted
        pairs.append((name, found.group(3)))
    return pairs


def sender_of(first: dict[str, str], defects: list[str]) -> tuple[str | None, str | None]:
    for header in ("from", "sender", "return-path"):
        found = address_list(first.get(header), defects)
        if found:
            name, addr = found[0]
            if header != "from":
                add_defect(defects, f"no usable From, sender taken from {header.title()}")
            return (collapse(name) or None), addr
    return None, None


_ANGLE_ID = re.compile(r"<([^<>]*)>")


def id_list(value: str | None) -> list[str]:
    if not value:
        return []
    found = _ANGLE_ID.findall(value)
    if not found:
        found = re.split(r"[\s,]+", value)
    ids: list[str] = []
    for item in found:
        item = "".join(item.split())
        if item and item not in ids:
            ids.append(item)
    return ids


def first_id(value: str | None) -> str | None:
    ids = id_list(value)
    return ids[0] if ids else None


def header_date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parts = parsedate_tz(value)
        if parts is None:
            raise ValueError(value)
        year, month, day, hour, minute, second = parts[:6]
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
        return moment - timedelta(seconds=parts[9] or 0)
    except (ValueError, OverflowError, IndexError, TypeError):
        add_defect(defects, f"unreadable Date {value[:60]!r}")
        return None


def headers_text(headers: list[tuple[str, str, str]], defects: list[str]) -> str:
    return "\n".join(
        [f"{name}: {decode_header_words(value, defects) if '=?' in value else value}" for name, _, value in headers]
    )


# ---------------------------------------------------------------------------------------------------
# subjects

_PREFIXES = re.compile(
    r"^(?:\s*(?:re|aw|wg|fwd?|tr|rv|sv|vs|antw|antwort|réf|odp|enc)\s*(?:\[\d+\]|\(\d+\))?\s*[:\uff1a])+\s*",
    re.I,
)


def normalize_subject(subject: str) -> str:
    return collapse(_PREFIXES.sub("", subject)).casefold()
