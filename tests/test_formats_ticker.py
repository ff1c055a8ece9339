"""Plain-text stories whose first line opens with a ticker in angle brackets.

Reuters writes headlines like ``<ACME CORP> 1ST QTR NET``. Written as a
plain-text file, such a story starts with ``<`` but is not markup: it must be
read as plain text, ticker kept in the headline. Broken markup (a NITF or
NewsML document cut short, tag soup of another vocabulary) must still be
dead-lettered with the reason it had before.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import corpus_path
from transforms.formats import parse_bytes, reuters_sgml
from transforms.formats.detect import detect_format
from transforms.model import DeadLetterReason, ParsedItem, ParseError

DATA = Path(__file__).parent / "data" / "formats"
STORIES = DATA / "ticker"  # our own stories with tickers in angle brackets


def _error(data: bytes, **kwargs) -> ParseError:
    with pytest.raises(ParseError) as raised:
        parse_bytes(data, **kwargs)
    return raised.value


def _story(data: bytes, **kwargs) -> ParsedItem:
    fmt, results = parse_bytes(data, **kwargs)
    assert fmt == "plain_text"
    assert len(results) == 1 and isinstance(results[0], ParsedItem)
    return results[0]


# -- our fixture stories --------------------------------------------------------

FIXTURES = {
    "plain_ticker_at_start.txt": (
        "<KESTREL MILLS LTD> 1ST QTR NET",
        (
            "WINNIPEG, March 4 - Kestrel Mills Ltd said first quarter net profit rose to 1,204,000 dlrs, "
            "or 12 cts a share, from 903,000 dlrs, or nine cts, a year earlier.",
            "Revenues rose to 18.6 mln dlrs from 15.2 mln dlrs, the flour miller said.",
            "The quarter ended January 31.",
        ),
        (),
    ),
    "plain_ticker_mid_headline.txt": (
        "HARROWGATE FOODS <HRW> RAISES QUARTERLY DIVIDEND",
        (
            "CHICAGO, March 5 - Harrowgate Foods Inc said its board raised the quarterly dividend "
            "to 18 cts a share from 15 cts.",
            "The dividend is payable April 10 to holders of record March 25.",
        ),
        (),
    ),
    "plain_two_tickers.txt": (
        "<PELLWORTH INDUSTRIES INC> TO BUY <ORRIN VALVE CO> STAKE",
        (
            "HOUSTON, March 6 - Pellworth Industries Inc said it agreed to buy a 40 pct stake in "
            "privately held Orrin Valve Co for about 22 mln dlrs in cash.",
            "Pellworth said the purchase would give it a foothold in the pipeline valve market.",
        ),
        ("Reporting by Nils Arkwright",),
    ),
    "plain_ticker_in_body.txt": (
        "LAKE SHIPPERS EXPECT SLOWER GRAIN SEASON",
        (
            "THUNDER BAY, Ontario, March 9 - Grain shippers on the upper lakes expect a slower season "
            "after a poor harvest on the prairies, elevator operators said.",
            "<LAKEHEAD ELEVATOR CO> said it would open two of its four terminals in April instead of all four.",
            "<NORTHSHORE TERMINALS LTD> and <BRANDT GRAIN CORP> said they had not yet set opening dates.",
        ),
        (),
    ),
    # '<TALLIS>' alone is a well-formed XML start tag; the file has CRLF line ends.
    "plain_single_word_ticker.txt": (
        "<TALLIS> SEES HIGHER 1987 EARNINGS",
        (
            "BOSTON, March 10 - Tallis Corp said it expects 1987 earnings to rise about 15 pct "
            "on stronger software sales.",
            "The company earned 2.10 dlrs a share in 1986.",
        ),
        (),
    ),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
@pytest.mark.parametrize("filename, hint", [
    (None, None),            # a Kafka message without a format header
    ("story.txt", None),     # a drop-folder file
    ("renamed.bin", None),
    (None, "nitf"),          # a wrong hint cannot make text into markup
])
def test_fixture_story_is_plain_text_with_its_ticker(name, filename, hint):
    headline, body, bylines = FIXTURES[name]
    data = (STORIES / name).read_bytes()
    assert detect_format(data, filename=filename, hint=hint) == "plain_text"
    story = _story(data, filename=filename, hint=hint)
    assert story.headline == headline
    assert story.body_paragraphs == body
    assert story.bylines == bylines
    assert story.standfirst is None and story.captions == ()


@pytest.mark.parametrize("headline", [
    "<IBM> SEES HIGHER 1987 EARNINGS",                # one word: a well-formed XML start tag
    "<AT&T> TO CUT 1,500 JOBS",                       # '&' is no XML name character
    "<A.H. BELO CORP> 4TH QTR NET",                   # dots, then bare words
    "<IBM> <MSFT> END LICENSING TALKS",               # two tickers in a row
    "<REUTERS HOLDINGS PLC> 1ST HALF PROFIT UP",      # a known root's name, as a company
    "<NITF> SETS DIVIDEND",                           # a known root's name, bare, then words
    "<CONTINENTAL ILLINOIS CORP/DE> UNIT SOLD",      # a slash inside the ticker
    "< 5 PCT OWNERS LOSE VOTE",                       # not even a tag
])
@pytest.mark.parametrize("prefix, newline", [
    (b"", "\n"), (b"\xef\xbb\xbf", "\n"), (b"", "\r\n"), (b"\n\n  ", "\n"),
])
def test_ticker_headline_shapes(headline, prefix, newline):
    body = ["NEW YORK, March 12 - The company said the move was expected.", "Terms were not disclosed."]
    data = prefix + newline.join([headline, "", body[0], "", body[1], ""]).encode("utf-8")
    story = _story(data)
    assert story.headline == headline  # brackets kept, as the agency wrote them
    assert story.body_paragraphs == tuple(body)


# -- markup is still markup ------------------------------------------------------


def _without_prolog(data: bytes) -> bytes:
    data = re.sub(rb"^\s*<\?xml[^>]*\?>\s*", b"", data)
    return re.sub(rb"^<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>\s*", b"", data, flags=re.S)


@pytest.mark.parametrize("name, fmt", [
    ("nitf_story.xml", "nitf"), ("newsml_1x_two_items.xml", "newsml_1x"), ("newsml_g2_message.xml", "newsml_g2")])
@pytest.mark.parametrize("prolog", [True, False])
def test_documents_of_known_formats_cut_anywhere_are_never_text(name, fmt, prolog):
    data = (DATA / name).read_bytes()
    if not prolog:
        data = _without_prolog(data)
        assert data.startswith(b"<") and not data.startswith((b"<?", b"<!"))
    root = {"nitf": b"<nitf", "newsml_1x": b"<NewsML", "newsml_g2": b"<newsMessage"}[fmt]
    known_from = data.index(root) + len(root)
    if fmt == "newsml_g2":  # a G2 root is known by its namespace
        known_from = data.index(b"iptc.org/std/nar/") + len(b"iptc.org/std/nar/")
    for cut in range(1, len(data) - 1, 3):
        with pytest.raises(ParseError) as raised:
            parse_bytes(data[:cut])
        error = raised.value
        if error.format is None:
            # cut before the root's name is whole, or (G2) before its namespace:
            # no vocabulary can be told, so it is unrecognised, never text
            assert error.reason == DeadLetterReason.UNRECOGNISED_FORMAT, cut
            assert cut < known_from, (cut, data[:cut][-40:])
        else:
            assert (error.format, error.reason) == (fmt, DeadLetterReason.MALFORMED), (cut, str(error))


@pytest.mark.parametrize("name, fmt", [("nitf_story.xml", "nitf"), ("newsml_1x_two_items.xml", "newsml_1x")])
@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.6, 0.99])
def test_truncated_documents_without_prolog_keep_their_reason(name, fmt, fraction):
    data = _without_prolog((DATA / name).read_bytes())
    error = _error(data[: max(int(len(data) * fraction), 12)])
    assert (error.reason, error.format) == (DeadLetterReason.MALFORMED, fmt)
    assert str(error).startswith(f"{fmt}: truncated XML")


@pytest.mark.parametrize("data, reason, fmt, message", [
    # markup of another vocabulary, or of none: unrecognised, as before
    (b"<html><body><p>page</p></body></html>", DeadLetterReason.UNRECOGNISED_FORMAT, None, "unrecognised format"),
    (b"<data>\n  <x>1</x>\n  <y>2", DeadLetterReason.UNRECOGNISED_FORMAT, None, "unrecognised format"),
    (b'<story id="17">Text of a story\n\nand more text', DeadLetterReason.UNRECOGNISED_FORMAT, None,
     "unrecognised format"),
    (b"<item/>\n\nSome text", DeadLetterReason.UNRECOGNISED_FORMAT, None, "unrecognised format"),
    (b'<feed xmlns="http://www.w3.org/2005/Atom">', DeadLetterReason.UNRECOGNISED_FORMAT, None,
     "unrecognised format"),
    (b'<?xml version="1.0"?>\n<ACME CORP> 1ST QTR NET\n\nBody.', DeadLetterReason.UNRECOGNISED_FORMAT, None,
     "unrecognised format"),
    (b"<!-- exported -->\n<IBM> SEES PROFIT\n\nBody.", DeadLetterReason.UNRECOGNISED_FORMAT, None,
     "unrecognised format"),
    (b"<!DOCTYPE html>\n<title>x", DeadLetterReason.UNRECOGNISED_FORMAT, None, "unrecognised format"),
    (b"<", DeadLetterReason.UNRECOGNISED_FORMAT, None, "unrecognised format"),
    (b"<newsItem guid='x'><contentMeta><headline>H</headline>", DeadLetterReason.UNRECOGNISED_FORMAT, None,
     "unrecognised format"),
    # a known root, cut or broken: its parser says what is wrong, as before
    (b"<nitf", DeadLetterReason.MALFORMED, "nitf", "nitf: truncated XML"),
    (b'<nitf version="-//IPTC//DTD', DeadLetterReason.MALFORMED, "nitf", "nitf: truncated XML"),
    (b"<nitf>\n<head><title>Ferry strike</title>", DeadLetterReason.MALFORMED, "nitf", "nitf: truncated XML"),
    (b"<nitf>\n  <head>\n    <title>Ferry", DeadLetterReason.MALFORMED, "nitf", "nitf: truncated XML"),
    (b"<nitf><body><p>one</b></body></nitf>", DeadLetterReason.MALFORMED, "nitf", "nitf: malformed XML"),
    (b'<NewsML Version="1.2"><NewsItem>', DeadLetterReason.MALFORMED, "newsml_1x", "newsml_1x: truncated XML"),
    (b'<REUTERS TOPICS="YES" NEWID="5"><DATE>1-MAR-1987', DeadLetterReason.MALFORMED, "reuters_sgml",
     "reuters_sgml: "),
])
def test_broken_markup_dead_letters_as_before(data, reason, fmt, message):
    error = _error(data)
    assert (error.reason, error.format) == (reason, fmt)
    assert str(error).startswith(message)


def test_text_after_a_known_root_on_its_own_line_is_markup():
    # '<nitf>' followed by a line break is a document root, not a headline's ticker.
    assert detect_format(b"<nitf>\nFerry strike ends\n\nBody.") == "nitf"
    assert detect_format(b"<nitf> Ferry strike ends\n\nBody.") == "plain_text"


# -- the real Reuters stories, as plain-text files ---------------------------------


@pytest.fixture(scope="module")
def reuters_stories() -> list[ParsedItem]:
    folder = corpus_path("reuters21578")
    files = sorted(folder.glob("reut2-*.sgm"))
    if len(files) != 11:
        pytest.skip(f"Reuters-21578 archives reut2-000..010.sgm not all found in {folder}")
    stories = []
    for path in files:
        stories.extend(r for r in reuters_sgml.parse(path.read_bytes()) if isinstance(r, ParsedItem))
    return stories


def _as_text_file(story: ParsedItem) -> bytes:
    """The story as a drop-folder user keeps it: headline, blank line, body
    paragraphs with the dateline back at the start of the first."""
    paragraphs = list(story.body_paragraphs)
    if story.dateline and paragraphs:
        paragraphs[0] = f"{story.dateline} - {paragraphs[0]}"
    return (story.headline + "\n\n" + "\n\n".join(paragraphs) + "\n").encode("utf-8")


def test_reuters_stories_written_as_text_files_are_never_unrecognised(reuters_stories):
    assert len(reuters_stories) == 11000
    unrecognised, wrong_headline = [], []
    for story in reuters_stories:
        data = _as_text_file(story)
        try:
            fmt, results = parse_bytes(data, filename=f"{story.item_id}.txt")
        except ParseError as error:
            if error.reason == DeadLetterReason.UNRECOGNISED_FORMAT:
                unrecognised.append((story.item_id, story.headline))
            continue
        if fmt != "plain_text" or results[0].headline != story.headline:
            wrong_headline.append((story.item_id, fmt, story.headline))
    ticker_first = [s for s in reuters_stories if s.headline.startswith("<")]
    assert len(ticker_first) > 200  # the case this test is about is in the data
    assert unrecognised == []
    assert wrong_headline == []
