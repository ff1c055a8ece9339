"""AAP teleprinter text (``ZCZC`` ... ``NNNN``) and AAP's other text feeds.

Input, one of:
  - ``ZCZC`` messages: a header of coded lines (``^`` headline, ``:``
    keyword, ``#`` Pagemasters keyword, ``=`` / ``@`` take key, ``$``
    category, ``*`` format (``*T`` tabular), ``&`` service level, ``+``
    IPTC subject, ``%`` selectors, and routing lines such as
    ``YY RFG TDR``), then the text, then ``NNNN`` (optional). Lines may end
    in CR, LF or both. Several messages in one input give one result each.
    The service copy adds lines of its own ahead of the text: a slug and
    take joined by ``_`` (``Legionella_BC1``), a ``~`` service or genre line
    (``~AM Service @NSW``) and routing lines holding several codes at once
    (``:(MELBOURNE) &AAPIS\\... *02000000 @Vic``). They are read as header:
    never headline nor text.
  - News Bites copy: ``zczc`` in lower case, then tagged fields (``AN#`` id,
    ``KN#`` source, ``PD#`` date, ``BY#``, ``KY#`` keyword, ``TI#`` title,
    ``AB#`` abstract, ``TX#`` text to the end).
  - AsiaNet media releases (``Source: X`` / ``MEDIA RELEASE PR67254`` /
    headline lines / a blank line / the wire's dateline paragraph
    ``LONDON, Feb. 1, 2017 /PRNewswire-AsiaNet/ --`` / text wrapped at about
    80 columns, a paragraph opening on an indented line or after a line
    that ends short). The source line may wrap onto a second line.
  - Bureau of Meteorology products (``IDN38100`` / issuer lines / a blank
    line / the warning title / text).
  - Racing results (``SOH`` then unit-separated fields: meeting, race,
    state, day): the fields become the headline line.
  - Anything else named ``aap_text`` by a hint: the first line is the
    headline, the rest the text.

Mapping: headline (``^`` line; else, in a Pagemasters message, its ``:``
line, else its ``#`` keyword; else the last of two or more ``:`` lines; else
the first text line); slugline (a Pagemasters message's ``#`` keyword, else
the first ``:`` keyword, else the slug of a slug-and-take line; a media
release's issuing organisation, from its ``Source:`` line); version (a take key that
marks an update or a lead: ``2nd Lead``, ``UPDATE``, ``CORRECTION``, else
the take of a slug-and-take line, as ANPA's take after its slug); body paragraphs (blank-line separated
blocks with wrapped lines joined; tabular copy and long single-line
paragraphs keep one paragraph per line); credit line from a trailing
``SOURCE:`` line (or AsiaNet's ``Source:``); agency ``AAP`` when the
message says so (``ZCZC AAP`` or an ``AAP -`` dateline), the Bureau for its
products; item id from the AsiaNet release number or the BoM product id.
The dateline stays at the start of the text for the normalizer, except a
media release's, which is a paragraph of its own: it is given apart as
``PLACE, DATE (WIRE)`` (the wire as written, ``/PRNewswire-AsiaNet/`` ->
``PRNewswire-AsiaNet``) and the text starts after it.

Pagemasters messages (AAP's racing and finance data, a ``#`` keyword line)
use the codes their own way: ``#`` is the slug, ``:`` the headline, ``@``
the take (``#Wagga Trot`` / ``:VIC TAB DIVS 1-4 Friday``).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import zoneinfo
from typing import Optional, Union

from transforms.formats._common import clean, strip_controls
from transforms.formats.encoding import decode_text
from transforms.model import DeadLetterReason, ItemFailure, ParsedItem, ParseError

__all__ = ["FORMAT", "parse"]

FORMAT = "aap_text"
_HEADER_CODES = set("$:=^*&+%#@~")
# 'Legionella_BC1': a slug and its take, one token, ahead of the text.
_SLUG_TAKE = re.compile(r"^(?P<slug>[A-Za-z][\w'\-]*?)_(?P<take>[A-Za-z0-9][A-Za-z0-9\-]{0,15})$")
# Further code fields on a code line (' &AAPIS', ' *02000000', ' @Vic'): a
# ':' line holding two or more is routing, not a keyword ('Profit up $2m'
# holds one at most).
_MORE_CODES = re.compile(r"\s[&*@+%$~=](?=[A-Za-z0-9\\])")
# ':(MELBOURNE) ...': a bureau in brackets opens a routing line, not a keyword.
_BRACKETED_PLACE = re.compile(r"^\([A-Z][^()]{0,40}\)(?:\s|$)")
_MESSAGE_START = re.compile(r"^[ \t]*ZCZC", re.I | re.M)
_NEWS_BITES_FIELD = re.compile(r"^([A-Z]{2})#(.*)$")
_ROUTING = re.compile(r"^[A-Z]{2}\s+\S")
_UPDATE_TAKE = re.compile(r"(\d+(?:st|nd|rd|th)\s*(?:lead|ld|take|add|writethru)|update|correct|refile|repeat)", re.I)
_SOURCE_LINE = re.compile(r"^SOURCE:\s*\S", re.I)
# 'Source: X' (wrapped onto a second line when long) then the release number.
_RELEASE = re.compile(r"^\s*Source:\s*(.+(?:\n(?!\s*MEDIA RELEASE).+)?)\n\s*MEDIA RELEASE\s+(PR\d+)\s*\n", re.I)
# A release's dateline paragraph: 'LONDON, Feb. 1, 2017 /PRNewswire-AsiaNet/ --'
# (the wire between slashes, a dash after; the text may follow on the line).
# Bounded and slash-free up to the wire, so a long line costs one pass; the
# place-comma-date shape is checked after the match (_is_release_dateline).
_RELEASE_DATELINE = re.compile(
    r"^[ \t]*(?P<dateline>[^\s/][^/\n]{2,160}?)[ \t]*/[ \t]*(?P<wire>[A-Za-z][\w.\- ]{0,40}?)[ \t]*/"
    r"[ \t]*(?:-{1,2}|\u2013|\u2014)?[ \t]*(?P<rest>.*)$"
)
_RELEASE_DATE = re.compile(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}\b")
# A bullet opens a paragraph (U+FFFD: a bullet the sender's code page lost).
# Not '-': wrapped text puts a dash at a line's start too.
_BULLET = re.compile("^\\s*[\u2022\u25cf\u25aa\u00b7*\ufffd]\\s")
_BOM = re.compile(r"^\s*(ID[A-Z]\d{5})\s*\n")
_AAP_DATELINE = re.compile(r"^[A-Z][A-Za-z .'\-]+,\s+\w+\s+\d{1,2}\s+AAP\s+-")

ParseResult = Union[ParsedItem, ItemFailure]


def parse(data: bytes) -> list[ParseResult]:
    """Parse AAP text: one result per ``ZCZC`` message, else one story."""
    text, _ = decode_text(data)
    # Field separators (RS, US ...) between racing fields become spaces.
    text = strip_controls(re.sub(r"[\x1c-\x1f]", " ", text.replace("\r\n", "\n").replace("\r", "\n")))
    if not text.strip():
        raise ParseError(DeadLetterReason.EMPTY, f"{FORMAT}: no text", FORMAT)
    if re.match(r"^\s*ZCZC", text, re.I):
        messages = []
        for chunk in _MESSAGE_START.split(text)[1:]:
            end = chunk.find("\nNNNN")
            message = chunk if end < 0 else chunk[:end]
            if message.strip():
                messages.append(message)
        if len(messages) == 1:
            return [_zczc(messages[0])]
        results: list[ParseResult] = []
        for index, message in enumerate(messages):
            try:
                results.append(dataclasses.replace(_zczc(message), item_index=index))
            except ParseError as error:
                results.append(ItemFailure(reason=error.reason, error=str(error),
                                           raw=("ZCZC" + message).encode("utf-8"), item_index=index,
                                           format=FORMAT))
        return results
    release = _RELEASE.match(text)
    if release:
        return [_media_release(text, release)]
    bom = _BOM.match(text)
    if bom:
        return [_bureau(text, bom)]
    lines = text.strip().split("\n")
    return [_story(headline=clean(lines[0]), body_lines=lines[1:])]


def _zczc(message: str) -> ParsedItem:
    lines = message.split("\n")
    first = lines[0].strip()  # the rest of the ZCZC line: 'AAP', 'FMG000'
    if _is_news_bites(lines[1:]):
        return _news_bites(lines[1:])
    headline = keyword = pagemasters = take = None
    slug_take: Optional[re.Match] = None
    colon_values: list[str] = []
    tabular = False
    position = 1
    while position < len(lines):
        line = lines[position]
        stripped = line.strip()
        code = line[:1]
        if not stripped and position == 1:
            position += 1
            continue
        if slug_take is None and position <= 3 and _SLUG_TAKE.match(stripped) and line[:1] != " ":
            slug_take = _SLUG_TAKE.match(stripped)
            position += 1
            continue
        if code in _HEADER_CODES and line[:1] != " ":
            value = clean(line[1:])
            if code == ":" and (len(_MORE_CODES.findall(value)) >= 2 or _BRACKETED_PLACE.match(value)):
                position += 1  # routing: a bureau and several codes on one line
                continue
            if code == "^" and value:
                headline = value
            elif code == ":":
                if value:
                    colon_values.append(value)
            elif code == "#" and value:
                pagemasters = value
            elif code in "=@" and value:
                take = value
            elif code == "*" and value[:1] == "T":
                tabular = True
            position += 1
            continue
        if _ROUTING.match(line) and len(stripped) < 40 and position <= 2:
            position += 1
            continue
        break
    body_lines = lines[position:]
    if colon_values:
        keyword = colon_values[0]
    if pagemasters:
        # Pagemasters' own use of the codes: '#' the slug, ':' the headline.
        keyword = pagemasters
        headline = headline or (colon_values[-1] if colon_values else pagemasters)
    elif not headline and len(colon_values) > 1:
        headline = colon_values[-1]
    agency = "AAP" if "AAP" in first.split() else None
    item = _story(headline=headline, body_lines=body_lines, tabular=tabular)
    if agency is None and item.body_paragraphs and _AAP_DATELINE.match(item.body_paragraphs[0]):
        agency = "AAP"
    version = take if take and _UPDATE_TAKE.search(take) else None
    if slug_take is not None:
        keyword = keyword or slug_take.group("slug")
        version = version or slug_take.group("take")
    return dataclasses.replace(item, slugline=keyword, version=version, agency=agency)


def _is_news_bites(lines: list[str]) -> bool:
    """News Bites copy: its first lines are ``XX#`` tagged fields (``AN#``, ``KN#``)."""
    tagged = [line for line in lines[:3] if line.strip()]
    return bool(tagged) and all(_NEWS_BITES_FIELD.match(line) for line in tagged[:2])


def _news_bites(lines: list[str]) -> ParsedItem:
    """A News Bites message: tagged fields, each running until the next tag."""
    fields: dict[str, list[str]] = {}
    current: Optional[list[str]] = None
    for line in lines:
        tagged = _NEWS_BITES_FIELD.match(line)
        if tagged and tagged.group(1) not in fields:
            current = fields.setdefault(tagged.group(1), [tagged.group(2)])
        elif current is not None:
            current.append(line)

    def field(tag: str) -> Optional[str]:
        return clean(" ".join(fields.get(tag, ()))) or None

    # One paragraph a line, as News Bites writes them.
    text_lines = [part for line in fields.get("TX", []) for part in (line, "")]
    item = _story(headline=field("TI"), body_lines=text_lines)
    return dataclasses.replace(
        item,
        published_at=_sydney_millis(field("PD")),
        standfirst=field("AB"),
        bylines=(field("BY"),) if field("BY") else (),
        slugline=field("KY"),
        item_id=field("AN"),
        agency=field("KN"),
    )


def _sydney_millis(text: Optional[str]) -> Optional[int]:
    """Millis UTC of a News Bites date (``11 June 2024 14:00:00``, Sydney time)."""
    if not text:
        return None
    for pattern in ("%d %B %Y %H:%M:%S", "%d %b %Y %H:%M:%S"):
        try:
            local = datetime.datetime.strptime(text, pattern)
        except ValueError:
            continue
        try:
            zone = zoneinfo.ZoneInfo("Australia/Sydney")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None  # no time zone database: better no time than a wrong one
        return int(local.replace(tzinfo=zone).timestamp() * 1000)
    return None


def _media_release(text: str, release: re.Match) -> ParsedItem:
    """An AsiaNet release: the issuer is its slug, the wire's dateline is given apart."""
    rest = text[release.end():].split("\n")
    headline_lines = []
    position = 0
    while position < len(rest) and not rest[position].strip():
        position += 1
    while position < len(rest) and rest[position].strip():
        headline_lines.append(rest[position].strip())
        position += 1
    body_lines = rest[position:]
    dateline, body_lines, runs_on = _release_dateline(body_lines)
    credit_line = None
    kept = []
    for line in body_lines:
        if line.strip() == "NNNN":
            break
        if _SOURCE_LINE.match(line.strip()):
            credit_line = clean(line.strip())
            continue
        kept.append(line.rstrip())
    paragraphs = _release_paragraphs(kept)
    if runs_on and paragraphs:
        lead = _RELEASE_DATELINE.match(paragraphs[0])
        paragraphs = ((lead.group("rest").strip(),) if lead else paragraphs[:1]) + paragraphs[1:]
        paragraphs = tuple(p for p in paragraphs if p)
    headline = clean(" ".join(headline_lines))
    if not headline and paragraphs:
        headline, paragraphs = paragraphs[0], paragraphs[1:] or paragraphs
    if not paragraphs:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{FORMAT}: {release.group(2)}: no text", FORMAT)
    source = clean(release.group(1))
    # The header's 'Source:' is the credit; PR Newswire repeats it as a
    # closing 'SOURCE:' line, which is taken out of the text either way.
    return ParsedItem(format=FORMAT, headline=headline, body_paragraphs=paragraphs, dateline=dateline,
                      credit_line=f"Source: {source}" if source else credit_line, slugline=source or None,
                      item_id=release.group(2))


def _release_dateline(lines: list[str]) -> tuple[Optional[str], list[str], bool]:
    """(the dateline as ``PLACE, DATE (WIRE)``, the lines left, whether the first still opens with it).

    The wire's marks (``/PRNewswire-AsiaNet/ --``) are not the dateline syntax
    the normalizer reads, and the dateline is a paragraph of its own, so it is
    given apart. When the text runs on from the dash on the same line, the
    line stays whole until its paragraph is joined (its width tells where the
    sender wrapped), and the dateline is cut from that paragraph then.
    """
    position = 0
    while position < len(lines) and not lines[position].strip():
        position += 1
    found = _RELEASE_DATELINE.match(lines[position]) if position < len(lines) else None
    if found is None or not _is_release_dateline(found.group("dateline")):
        return None, lines, False
    dateline = f"{clean(found.group('dateline'))} ({clean(found.group('wire'))})"
    if found.group("rest").strip():
        return dateline, lines[position:], True
    return dateline, lines[position + 1:], False


def _is_release_dateline(text: str) -> bool:
    """'PLACE, [REGION,] MONTH DAY[, YEAR]' ('LONDON, Feb. 1'), not a sentence with slashes in it."""
    place, comma, date = text.partition(",")
    return bool(place.strip() and comma and _RELEASE_DATE.search(date))


def _release_paragraphs(lines: list[str]) -> tuple[str, ...]:
    """Paragraphs of a release's text, wrapped at a fixed width by the sender.

    Within a blank-line block a line opens a paragraph when it is indented (and
    not deeper than the paragraph's first line: a hanging indent continues it),
    when it opens with a bullet, or when its first word would have fitted on
    the line before (that line ended short on purpose). Blocks with columns
    on two lines or more keep one paragraph per line, as elsewhere (a single
    '|' is a ticker symbol's, 'BSE: 540565 | NSE: X').
    """
    width = _wrap_width(lines)
    out: list[str] = []
    for block in _blocks(lines):
        if sum(_is_table_line(line) for line in block) >= 2:
            out.extend(clean(line) for line in block if clean(line))
            continue
        current: list[str] = []
        first_indent = 0
        previous = ""
        for line in block:
            indent = _indent(line)
            word = line.split()[0]
            opens = bool(current) and (
                (indent >= 2 and (first_indent == 0 or indent <= first_indent))
                or bool(_BULLET.match(line))
                or len(previous.rstrip()) + 1 + len(word) <= width
            )
            if opens:
                out.append(clean(" ".join(current)))
                current = []
            if not current:
                first_indent = indent
            current.append(line)
            previous = line
        if current:
            out.append(clean(" ".join(current)))
    return tuple(p for p in out if p)


def _wrap_width(lines: list[str]) -> int:
    """The column the sender wrapped at: most wrapped lines end near it (a long URL may pass it)."""
    lengths = sorted(len(line.rstrip()) for line, after in zip(lines, lines[1:]) if line.strip() and after.strip())
    return lengths[(len(lengths) * 9) // 10] if lengths else 0


def _indent(line: str) -> int:
    """Columns of leading white space."""
    return len(line) - len(line.lstrip())


def _blocks(lines: list[str]) -> list[list[str]]:
    """Runs of non-blank lines."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        if not line.strip():
            if blocks[-1]:
                blocks.append([])
        else:
            blocks[-1].append(line)
    return [block for block in blocks if block]


def _bureau(text: str, bom: re.Match) -> ParsedItem:
    blocks = [b for b in re.split(r"\n\s*\n", text[bom.end():]) if b.strip()]
    if len(blocks) < 2:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{FORMAT}: {bom.group(1)}: no text", FORMAT)
    issuer = next((clean(line) for line in blocks[0].split("\n") if "Bureau of Meteorology" in line), "")
    issuer = "Australian Government Bureau of Meteorology" if "BNOC" in issuer or "Issued by" in issuer else issuer
    item = _story(headline=clean(blocks[1]), body_lines="\n\n".join(blocks[2:]).split("\n"))
    return dataclasses.replace(item, agency=issuer or None, item_id=bom.group(1))


def _story(headline: Optional[str], body_lines: list[str], tabular: bool = False) -> ParsedItem:
    credit_line = None
    kept: list[str] = []
    for line in body_lines:
        stripped = line.strip()
        if stripped == "NNNN":
            break
        if _SOURCE_LINE.match(stripped):
            credit_line = clean(stripped)
            continue
        kept.append(line.rstrip())
    paragraphs = _paragraphs(kept, tabular)
    # The first text line is the headline when the header gives none (AAP's
    # service copy sends it so), so only a message without text is dropped:
    # missing_body, as for the other formats (issue 17).
    if not headline and paragraphs:
        headline = paragraphs[0]
        paragraphs = paragraphs[1:] or paragraphs
    if not paragraphs:
        raise ParseError(DeadLetterReason.MISSING_BODY, f"{FORMAT}: no text", FORMAT)
    return ParsedItem(format=FORMAT, headline=headline, body_paragraphs=paragraphs, credit_line=credit_line)


def _paragraphs(lines: list[str], tabular: bool) -> tuple[str, ...]:
    blocks: list[list[str]] = [[]]
    for line in lines:
        if not line.strip():
            if blocks[-1]:
                blocks.append([])
        else:
            blocks[-1].append(line)
    out: list[str] = []
    for block in blocks:
        if not block:
            continue
        one_per_line = (
            tabular
            or any(_is_table_line(line) for line in block)
            or sum(len(line) for line in block) / len(block) > 100
            or any(line.startswith(("   ", "\t")) for line in block[1:])
        )
        if one_per_line:
            out.extend(clean(line) for line in block if clean(line))
        else:
            joined = clean(" ".join(block))
            if joined:
                out.append(joined)
    return tuple(out)


def _is_table_line(line: str) -> bool:
    """Columns (runs of 3+ spaces or a tab inside the line) or pipe-separated cells."""
    inner = line.strip()
    return "|" in inner or "   " in inner or "\t" in inner
