"""Plain-text wire copy, as web desks and agency text exports deliver it.

Shape (the seed story is the model): the headline on the first line, then
blank-line-separated blocks: an optional standfirst, optional byline lines,
photo blocks whose last line ends in a bracketed credit
(``... [File: Sputnik/Sergey Guneev/Kremlin via Reuters]``, optionally after
the picture's alt-text line, kept as the caption's ``alt_text``), body
paragraphs with the occasional subheading, map or graphic captions (a
one-line block naming a map/graphic/chart and not ending a sentence),
Reuters-style ``Reporting by ...`` credit lines, and a
trailing ``Source: ...`` line.

Captions, byline and credit lines and the Source line are taken out of the
body; nothing is normalized here (that is the normalizer's job) beyond
splitting lines. The dateline, if any, stays at the start of the first body
paragraph for the normalizer to take.

Angle brackets are text here: a Reuters headline's ticker stays as written
(``<ACME CORP> 1ST QTR NET``), brackets and all, because the Reuters SGML
parser keeps it the same way (so one story delivered both ways gives the
same headline for deduplication) and the brackets mark the name as a
company, which the bare words would not.
"""

from __future__ import annotations

import re
from typing import Optional

from transforms.formats.encoding import decode_text
from transforms.model import CaptionText, DeadLetterReason, ParsedItem, ParseError

__all__ = ["FORMAT", "parse", "parse_text"]

FORMAT = "plain_text"

_BLOCK_SPLIT = re.compile(r"\n[ \t\u00a0]*\n+")
_TRAILING_CREDIT = re.compile(r"\[([^\[\]]{2,200})\]\s*$")
_PAREN_PHOTO_CREDIT = re.compile(
    r"\(((?:AP|AFP|Reuters|REUTERS|Photo|Xinhua|EPA|dpa|Getty)[^()]{0,150})\)\s*$"
)
_GRAPHIC_WORDS = re.compile(r"\b(map|maps|graphic|graphics|infographic|chart|interactive)\b", re.I)
_SENTENCE_END = re.compile(r"[.!?:;\"”’')\]]\s*$")
_SOURCE_LINE = re.compile(r"^\s*(Sources?|Credits?)\s*:\s*\S", re.I)
_BYLINE = re.compile(r"^\s*By\s+\S", re.I)
_ROLE_CREDIT = re.compile(
    r"^\s*\(?\s*(Additional\s+)?(Reporting|Writing|Editing|Compiled|Edited|Written)\s+by\s+\S", re.I
)
_DATELINE_LEAD = re.compile(r"^[A-Z][A-Z .'\-]{2,}(,[^(\-—–]{0,40})?\s*(\([^)]{2,40}\)\s*)?[-—–]")
#: A standfirst is short: longer second blocks are the lead paragraph.
MAX_STANDFIRST_CHARS = 400


def parse(data: bytes) -> list[ParsedItem]:
    """Parse one plain-text story from bytes (decoded as declared or detected)."""
    text, _ = decode_text(data)
    return [parse_text(text)]


def parse_text(text: str, fmt: str = FORMAT) -> ParsedItem:
    """Parse one plain-text story already decoded to ``text``."""
    blocks = _blocks(text)
    if not blocks:
        raise ParseError(DeadLetterReason.EMPTY, f"{fmt}: no text", fmt)
    headline_lines = blocks[0].split("\n")
    headline = headline_lines[0].strip()
    rest = ["\n".join(headline_lines[1:])] if len(headline_lines) > 1 else []
    rest += blocks[1:]

    standfirst: Optional[str] = None
    if len(rest) >= 2 and _is_standfirst(rest[0]):
        standfirst, rest = rest[0], rest[1:]

    bylines: list[str] = []
    captions: list[CaptionText] = []
    body: list[str] = []
    credit_line: Optional[str] = None
    for index, block in enumerate(rest):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        last = lines[-1]
        if index == len(rest) - 1 and len(lines) == 1 and _SOURCE_LINE.match(last):
            credit_line = last
        elif _ROLE_CREDIT.match(last) and len(block) < 400:
            bylines.append(" ".join(lines))
        elif not body and _BYLINE.match(lines[0]) and len(block) < 200:
            bylines.append(" ".join(lines))
        elif _TRAILING_CREDIT.search(last) or (
            len(last) < 400 and _PAREN_PHOTO_CREDIT.search(last) and "Photo" in last
        ):
            # The picture's title line(s) before the caption are its alt
            # text, a shorter copy of the caption: kept with the caption.
            alt_text = " ".join(lines[:-1]) or None
            captions.append(CaptionText(text=last, credit=None, kind="photo", alt_text=alt_text))
        elif len(lines) == 1 and _is_graphic_caption(last):
            kind = "map" if re.search(r"\bmaps?\b", last, re.I) else "graphic"
            captions.append(CaptionText(text=last, credit=None, kind=kind))
        else:
            body.append(" ".join(lines))
    if not headline:
        raise ParseError(DeadLetterReason.MISSING_HEADLINE, f"{fmt}: no headline", fmt)
    if not body:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{fmt}: no body paragraphs", fmt)
    return ParsedItem(
        format=fmt,
        headline=headline,
        standfirst=standfirst,
        body_paragraphs=tuple(body),
        bylines=tuple(bylines),
        captions=tuple(captions),
        credit_line=credit_line,
    )


def _blocks(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [block.strip() for block in _BLOCK_SPLIT.split(text) if block.strip()]


def _is_standfirst(block: str) -> bool:
    return (
        len(block) <= MAX_STANDFIRST_CHARS
        and "\n" not in block.strip()
        and not _DATELINE_LEAD.match(block)
        and not _BYLINE.match(block)
        and not _TRAILING_CREDIT.search(block)
    )


def _is_graphic_caption(line: str) -> bool:
    return len(line) < 200 and bool(_GRAPHIC_WORDS.search(line)) and not _SENTENCE_END.search(line)
