"""Format detection from content, file name and hints.

Contract: ``detect_format(data, filename, hint)`` returns the name of one of
the formats wire-ingest reads (a key of ``transforms.formats.PARSERS``) or
``None``, which the registry dead-letters as "unrecognised format". It never
guesses: XML and JSON are recognised by their vocabulary (root element and
namespace, distinctive keys), never by being XML or JSON, so XML from
another vocabulary is ``None``, not a NITF attempt. Content that starts
with ``<`` but shows no sign of being markup is text, not unknown XML:
Reuters headlines open with a ticker (``<ACME CORP> 1ST QTR NET``).

Order of evidence:
  1. A structural signature in the content (SGML/XML root, JSON keys, the
     control-character envelopes of ANPA-1312 and IPTC 7901, AAP's ``ZCZC``
     start) decides when present: it is what the parser will read. Content
     starting with ``<`` is markup (a known vocabulary, else ``None``) only
     when it shows markup: a declaration, DOCTYPE or comment first, an end
     tag or namespace declaration, a first tag with attributes, self-closed
     or cut off, or a known root not followed by words on its line.
     Otherwise it is text whose first line holds angle brackets.
  2. Text with transmission control characters (SOH, STX, ETX, EOT, SYN)
     but no known envelope is a damaged wire message: ``None``.
  3. Otherwise a hint (a Kafka ``wire-format`` header, an option) naming a
     known text format, then the file extension, then plain text. A hint or
     a file name cannot make text without its signature into one of the
     structured formats.

Only the first few kilobytes are looked at; the function is cheap enough to
run on every message.
"""

from __future__ import annotations

import re
from typing import Optional

from transforms.formats.encoding import looks_binary

__all__ = ["detect_format", "KNOWN_FORMATS", "FORMAT_ALIASES"]

#: Every format name detection can return.
KNOWN_FORMATS = (
    "plain_text",
    "reuters_sgml",
    "ninjs",
    "newsml_g2",
    "newsml_1x",
    "nitf",
    "iptc7901",
    "anpa1312",
    "ap_media_api_json",
    "aap_text",
)

#: Hint spellings seen on headers and in configuration -> format name.
FORMAT_ALIASES = {
    "text": "plain_text",
    "txt": "plain_text",
    "plain": "plain_text",
    "reuters": "reuters_sgml",
    "sgml": "reuters_sgml",
    "reuters-21578": "reuters_sgml",
    "newsmlg2": "newsml_g2",
    "g2": "newsml_g2",
    "newsml": "newsml_g2",
    "newsml1": "newsml_1x",
    "newsml12": "newsml_1x",
    "newsml1x": "newsml_1x",
    "iptc": "iptc7901",
    "iptc7901": "iptc7901",
    "anpa": "anpa1312",
    "anpa1312": "anpa1312",
    "ap": "ap_media_api_json",
    "apmediaapi": "ap_media_api_json",
    "apjson": "ap_media_api_json",
    "aap": "aap_text",
}

# 'NewsML-G2', 'newsml g2', 'AAP text' ... -> the format name.
_COMPACT_NAMES = {re.sub(r"[^a-z0-9]", "", name): name for name in KNOWN_FORMATS}

_EXTENSIONS = {
    ".sgm": "reuters_sgml",
    ".sgml": "reuters_sgml",
    ".anpa": "anpa1312",
    ".ninjs": "ninjs",
    ".nitf": "nitf",
    ".newsml": "newsml_g2",
    ".txt": "plain_text",
}

_HEAD_BYTES = 8192
_XML_ROOT = re.compile(
    rb"<(?!\?|!)(?:([A-Za-z_][\w.\-]*):)?([A-Za-z_][\w.\-]*)([^>]*)>?", re.S
)
# Tag syntax as XML spells it, to tell an element from a ticker in brackets:
# '<ACME CORP>' (bare words), '<AT&T>' and '< 5 PCT' are no tags.
_NAME = rb"[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?"
_ATTRIBUTE = rb"\s+" + _NAME + rb"\s*=\s*(?:\"[^\"<]*\"|'[^'<]*')"
_START_TAG = re.compile(rb"<" + _NAME + rb"(?P<attributes>(?:" + _ATTRIBUTE + rb")*)\s*(?P<empty>/?)>")
# A start tag the input ends inside ('<nitf version="-//IPTC', '<'):
# attributes so far well formed, the last one possibly cut.
_CUT_TAG = re.compile(
    rb"<(?:" + _NAME + rb"(?:" + _ATTRIBUTE + rb")*"
    rb"(?:\s+(?:" + _NAME + rb"(?:\s*=\s*(?:\"[^\"<]*|'[^'<]*)?)?)?)?\s*/?)?"
)
_END_TAG = re.compile(rb"</" + _NAME + rb"\s*>")
_NAMESPACE_DECLARATION = re.compile(rb"\sxmlns(?::[\w.\-]+)?\s*=")
_WORD_FOLLOWS = re.compile(rb"[ \t]*[^\s<]")
_XML_SKIP = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]*\[.*?\])?[^>]*>)", re.S)
_G2_NAMESPACE = b"iptc.org/std/nar/"
_G2_ROOTS = {
    b"newsItem", b"newsMessage", b"packageItem", b"conceptItem", b"conceptSet",
    b"planningItem", b"knowledgeItem", b"catalogItem",
}
_JSON_KEY = re.compile(rb'"([A-Za-z_$][\w$]*)"\s*:')
_NINJS_KEYS = {
    b"uri", b"guid", b"headline", b"headlines", b"body_text", b"body_html", b"bodies",
    b"versioncreated", b"firstcreated", b"contentcreated", b"byline", b"description_text",
    b"descriptions", b"renditions", b"associations", b"pubstatus",
}
# ANPA-1312: SYN SYN SOH, then a service/selector code.
_ANPA_START = re.compile(rb"^\s*\x16\x16\x01")
# IPTC 7901 header line: (SOH) source-id+number, priority digit, category,
# word count, optional keyword, then the agency: 'eca0124 3 i 93  dpa 1888'.
# Agencies vary the framing around it: SYN before SOH, STX ending the
# header line, CR CR LF line ends ('bsf025 3 ec 121 etf 967').
_IPTC7901_HEADER = re.compile(
    rb"^(?:\s*\x16{1,2})?\s*\x01?\s*[a-z]{2,4}\d{2,6}[ \t]+[1-6][ \t]+[a-z]{1,3}[ \t]+\d{1,5}\b"
    rb"[^\r\n\x02]{0,60}(?:\r*\n|\x02)"
)
_ENVELOPE_CONTROLS = re.compile(rb"[\x01\x02\x03\x04\x16]")
# ZCZC opens AAP's teleprinter copy; News Bites copy writes it in lower case.
_AAP_START = re.compile(rb"^[\s\x01\x02\x16]*(?:ZCZC|zczc)\b")
# AAP's other text feeds: AsiaNet media releases ('Source: X' then
# 'MEDIA RELEASE PR67254'; a long source wraps onto a second line) and
# Bureau of Meteorology products ('IDN38100').
_AAP_MEDIA_RELEASE = re.compile(rb"^\s*Source:[^\r\n]{1,120}(?:\r?\n[^\r\n]{1,120})?\r?\n\s*MEDIA RELEASE PR\d+")
_AAP_BOM_PRODUCT = re.compile(rb"^\s*ID[A-Z]\d{5}\s*\r?\n")
# AAP racing results: SOH, then unit-separated fields ('CRANBOURNE<US>6<US>N...').
_AAP_RACING = re.compile(rb"^\x01[^\x1f\r\n]{1,40}\x1f[^\r\n]{0,80}\x1f")


def detect_format(
    data: bytes, filename: Optional[str] = None, hint: Optional[str] = None
) -> Optional[str]:
    """Name of the format of ``data``, or None when it is not one wire-ingest reads."""
    if not data or not data.strip():
        return None
    head = data[:_HEAD_BYTES]
    # IPTC 7901 first: its header may follow SYN SYN SOH, which alone would say ANPA.
    if _IPTC7901_HEADER.match(head):
        return "iptc7901"
    if _ANPA_START.match(head):
        return "anpa1312"
    if looks_binary(head):
        return None
    stripped = _strip_bom(head).lstrip()
    hinted = _from_hint(hint)
    if stripped[:1] == b"<" and _is_markup(stripped):
        # Markup of an unknown vocabulary may still be named by a hint, so
        # that its parser reports what is wrong with it.
        return _detect_markup(stripped) or (hinted if hinted in _XML_FORMATS else None)
    if stripped[:1] in (b"{", b"["):
        return _detect_json(stripped) or (hinted if hinted in _JSON_FORMATS else None)
    if (_AAP_START.match(head) or _AAP_MEDIA_RELEASE.match(head) or _AAP_BOM_PRODUCT.match(head)
            or _AAP_RACING.match(head)):
        return "aap_text"
    if _ENVELOPE_CONTROLS.search(head) and hinted != "aap_text":
        # Transmission controls without a known envelope: a damaged ANPA or
        # IPTC message, not plain text to be guessed at.
        return None
    if hinted is not None and hinted not in _STRUCTURED:
        return hinted
    by_name = _from_filename(filename)
    if by_name is not None and by_name not in _STRUCTURED:
        return by_name
    return "plain_text"


_XML_FORMATS = {"reuters_sgml", "newsml_g2", "newsml_1x", "nitf"}
_JSON_FORMATS = {"ninjs", "ap_media_api_json"}
# Formats that have a content signature: a hint or a file name cannot make
# text without that signature into one of these.
_STRUCTURED = {
    "reuters_sgml", "ninjs", "newsml_g2", "newsml_1x", "nitf", "iptc7901", "anpa1312",
    "ap_media_api_json",
}


def _strip_bom(head: bytes) -> bytes:
    if head.startswith(b"\xef\xbb\xbf"):
        return head[3:]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-16: look at the ASCII bytes only (good enough for a root element).
        return head[2:].replace(b"\x00", b"")
    return head


def _is_markup(head: bytes) -> bool:
    """Whether ``head`` (starting with ``<``) is markup rather than text.

    Markup is recognised by what text never has, so that a broken document
    of a known vocabulary still goes to its parser (and is dead-lettered
    there as truncated or malformed), while a headline such as
    ``<ACME CORP> 1ST QTR NET``, ``<IBM> SEES ...`` or ``<REUTERS HOLDINGS
    PLC> ...`` is read as plain text.
    """
    if head.startswith((b"<?", b"<!")):  # XML declaration, DOCTYPE, comment, CDATA
        return True
    if _END_TAG.search(head) or _NAMESPACE_DECLARATION.search(head):
        return True
    first = _START_TAG.match(head)
    if first is None:
        return _CUT_TAG.fullmatch(head) is not None
    if first.group("attributes") or first.group("empty"):
        return True
    # A bare '<NAME>': a known root ('<nitf>' then its children) is markup;
    # words after it on its line make it a ticker opening a headline.
    return _detect_markup(head) is not None and not _WORD_FOLLOWS.match(head, first.end())


def _detect_markup(head: bytes) -> Optional[str]:
    position = 0
    while True:
        skipped = _XML_SKIP.match(head, position)
        if not skipped or skipped.end() == position:
            break
        if b"<!DOCTYPE lewis" in skipped.group(0):
            return "reuters_sgml"
        position = skipped.end()
    root = _XML_ROOT.match(head, head.find(b"<", position))
    if root is None:
        return None
    name, attributes = root.group(2), root.group(3) or b""
    if name == b"REUTERS":
        return "reuters_sgml"
    if name == b"NewsML":
        return "newsml_1x"
    if name.lower() == b"nitf":
        return "nitf"
    if name in _G2_ROOTS and (_G2_NAMESPACE in attributes or b"standard=\"NewsML-G2\"" in attributes
                              or _G2_NAMESPACE in head):
        return "newsml_g2"
    return None


def _detect_json(head: bytes) -> Optional[str]:
    keys = set(_JSON_KEY.findall(head))
    if b"api_version" in keys and b"data" in keys:
        return "ap_media_api_json"
    if b"$schema" in keys and b"ninjs" in head:
        return "ninjs"
    if len(keys & _NINJS_KEYS) >= 2 or (b"uri" in keys and b"type" in keys):
        return "ninjs"
    return None


def _from_hint(hint: Optional[str]) -> Optional[str]:
    if not hint:
        return None
    key = hint.strip().lower()
    if key in KNOWN_FORMATS:
        return key
    compact = re.sub(r"[^a-z0-9]", "", key)
    return _COMPACT_NAMES.get(compact) or FORMAT_ALIASES.get(compact) or FORMAT_ALIASES.get(key)


def _from_filename(filename: Optional[str]) -> Optional[str]:
    if not filename:
        return None
    lowered = filename.lower()
    for extension, fmt in _EXTENSIONS.items():
        if lowered.endswith(extension):
            return fmt
    return None
