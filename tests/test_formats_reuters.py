"""Reuters-21578 SGML: our own fixture archive, the real archives, bad input."""

from __future__ import annotations

import calendar
import re
from pathlib import Path

import pytest

from transforms.formats import parse_bytes, reuters_sgml
from transforms.formats.detect import detect_format
from transforms.model import DeadLetterReason, ItemFailure, ParsedItem, ParseError

DATA = Path(__file__).parent / "data" / "formats"
CORPORA = Path(__file__).parents[1].parent / "shared" / "corpora"
REUTERS = CORPORA / "reuters21578"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _millis(*fields: int) -> int:
    return calendar.timegm((*fields, 0, 0, 0)) * 1000


@pytest.fixture(scope="module")
def sample() -> list:
    return reuters_sgml.parse((DATA / "reuters_sample.sgm").read_bytes())


@pytest.fixture(scope="module")
def archive() -> list:
    files = sorted(REUTERS.glob("reut2-*.sgm"))
    if len(files) != 11:
        pytest.skip(f"Reuters-21578 archives not found in {REUTERS}")
    results = []
    for path in files:
        results.extend(reuters_sgml.parse(path.read_bytes()))
    return results


# -- our fixture ------------------------------------------------------------


def test_fixture_full_story(sample):
    story = sample[0]
    assert isinstance(story, ParsedItem)
    assert story.format == "reuters_sgml"
    assert story.item_id == "9001"
    assert story.item_index == 0
    assert story.headline == "KESTREL MILLS <KML> SEES LATE WHEAT HARVEST"
    assert story.dateline == "WINNIPEG, March 4"
    assert story.bylines == ("By Ada Pennywhistle, Reuters",)
    assert story.slugline == "BC-KESTREL-MILLS-HARVEST"
    assert story.urgency == 3
    assert story.version is None
    assert story.agency == "Reuters"
    assert story.language == "en"
    assert story.published_at == _millis(1987, 3, 4, 9, 12, 30) + 250
    assert story.body_paragraphs == (
        "Kestrel Mills Ltd said a cold spring in the northern plains would push the wheat "
        "harvest back by about two weeks, and that flour prices could rise & stay high into autumn.",
        "The miller said its own stocks were adequate until August.",
    )


def test_fixture_brief_has_headline_as_body(sample):
    brief = sample[1]
    assert brief.headline == "KESTREL MILLS TO CUT 200 JOBS AT WINNIPEG PLANT"
    assert brief.body_paragraphs == (brief.headline,)
    assert brief.urgency == 1  # flash
    assert brief.slugline == "BC-******KESTREL-MILLS"
    # junk after the time stamp is ignored
    assert brief.published_at == _millis(1987, 3, 4, 9, 14, 2) + 110


def test_fixture_correction_dateline_removed_from_body(sample):
    story = sample[2]
    assert story.version == "CORRECTED"
    assert story.published_at is None  # junk date: no time rather than a failure
    assert story.dateline == "WINNIPEG, March 4"
    assert story.body_paragraphs[0].startswith("Kestrel Mills Ltd said a cold spring")
    assert story.body_paragraphs[-1].endswith("three weeks, not two.")


def test_fixture_unprocessed_text(sample):
    story = sample[3]
    assert story.headline == "PRAIRIE GRAIN STOCKS - MARCH 4"
    assert story.urgency == 2
    assert story.body_paragraphs[1] == "Wheat.......................1,204 vs.......1,180"
    assert len(story.body_paragraphs) == 3


def test_fixture_untitled_story_is_passed_on(sample):
    # No <TITLE> but a body: reported as sent, headline "" (enrichment
    # derives one, issue 17); a failing item keeps its siblings: test_truncated_archive.
    assert len(sample) == 5
    story = sample[4]
    assert isinstance(story, ParsedItem)
    assert story.headline == "" and story.item_id == "9005" and story.item_index == 4
    assert story.body_paragraphs == ("A story that lost its title on the way.",)


def test_no_title_and_no_body_is_missing_body():
    element = (
        b'<REUTERS NEWID="9"><DATE>4-MAR-1987 10:05:00.00</DATE><TEXT>&#2;\n'
        b"<BODY> Reuter\n&#3;</BODY></TEXT></REUTERS>"
    )
    [failure] = reuters_sgml.parse(element)
    assert isinstance(failure, ItemFailure) and failure.reason == DeadLetterReason.MISSING_BODY
    assert "reuters_sgml" in failure.error and "9" in failure.error


def test_slug_version_markers():
    element = (
        '<REUTERS NEWID="7"><DATE>1-APR-1987 00:00:00.00</DATE><UNKNOWN>\n'
        "r f AM-HARBOUR-STRIKE-2NDLD   04-01 0300</UNKNOWN><TEXT><TITLE>DOCKERS STAY OUT</TITLE>"
        "<BODY>The strike went on.\n Reuter\n&#3;</BODY></TEXT></REUTERS>"
    )
    [story] = reuters_sgml.parse(element.encode())
    assert story.version == "2NDLD"
    assert story.slugline == "AM-HARBOUR-STRIKE-2NDLD"
    assert story.body_paragraphs == ("The strike went on.",)
    title_update = element.replace("DOCKERS STAY OUT", "UPDATE 2 - DOCKERS STAY OUT")
    assert reuters_sgml.parse(title_update.encode())[0].version == "UPDATE 2"


def test_split_archive_round_trips_single_elements():
    data = (DATA / "reuters_sample.sgm").read_bytes()
    elements = reuters_sgml.split_archive(data)
    assert len(elements) == 5
    assert all(e.startswith(b"<REUTERS ") and e.endswith(b"</REUTERS>") for e in elements)
    whole = reuters_sgml.parse(data)
    for index, element in enumerate(elements):
        single = reuters_sgml.parse(element)
        assert len(single) == 1
        if isinstance(single[0], ParsedItem):
            assert single[0].item_index == 0
            assert single[0].headline == whole[index].headline
            assert single[0].body_paragraphs == whole[index].body_paragraphs


def test_detection_and_registry():
    data = (DATA / "reuters_sample.sgm").read_bytes()
    assert detect_format(data) == "reuters_sgml"
    element = reuters_sgml.split_archive(data)[0]
    assert detect_format(element) == "reuters_sgml"
    fmt, results = parse_bytes(element)
    assert fmt == "reuters_sgml" and results[0].item_id == "9001"


def test_truncated_archive():
    data = (DATA / "reuters_sample.sgm").read_bytes()
    cut = data[: data.rindex(b"</REUTERS>", 0, data.rindex(b"</REUTERS>")) - 5]
    results = reuters_sgml.parse(cut)
    assert [type(r) for r in results[:3]] == [ParsedItem] * 3
    assert isinstance(results[-1], ItemFailure)
    assert results[-1].reason == DeadLetterReason.MALFORMED
    assert "truncated" in results[-1].error
    with pytest.raises(ParseError) as raised:
        reuters_sgml.parse(data[:200])
    assert raised.value.reason == DeadLetterReason.MALFORMED
    assert "reuters_sgml" in str(raised.value)
    with pytest.raises(ParseError, match="reuters_sgml: no <REUTERS> element"):
        reuters_sgml.parse(b"<!DOCTYPE lewis SYSTEM 'lewis.dtd'>\n")


# -- the real archives -------------------------------------------------------


def test_archive_every_element_parses(archive):
    assert len(archive) == 11000
    stories = [r for r in archive if isinstance(r, ParsedItem)]
    assert len(stories) == 11000
    assert len({s.item_id for s in stories}) == 11000
    for story in stories:
        assert story.headline and story.body_paragraphs
        for text in (story.headline, *story.body_paragraphs):
            assert not CONTROL.search(text), story.item_id
            assert "&lt;" not in text and "&#" not in text, story.item_id
        assert not re.search(r"\bReuter\s*$", story.body_paragraphs[-1], re.I), story.item_id
        assert story.published_at is not None, story.item_id


def test_archive_first_story(archive):
    story = archive[0]
    assert story.item_id == "1"
    assert story.headline == "BAHIA COCOA REVIEW"
    assert story.dateline == "SALVADOR, Feb 26"
    assert story.slugline == "BC-BAHIA-COCOA-REVIEW"
    assert story.urgency == 3
    assert story.published_at == _millis(1987, 2, 26, 15, 1, 1) + 790
    assert "Bahia cocoa zone" in story.body_paragraphs[0]
    assert not story.body_paragraphs[0].startswith("SALVADOR")
    assert len(story.body_paragraphs) > 10


def test_archive_briefs_and_markers(archive):
    by_id = {s.item_id: s for s in archive}
    brief = by_id["30"]
    assert brief.body_paragraphs == (brief.headline,)
    assert not brief.headline.startswith("*")
    assert brief.urgency == 1
    assert sum(1 for s in archive if "Blah blah" in " ".join(s.body_paragraphs)) == 0
    versions = [s.version for s in archive if s.version]
    assert versions.count("CORRECTED") >= 30
    assert any(v.endswith("LD") for v in versions)
    bylined = [s for s in archive if s.bylines]
    assert len(bylined) == 468
    assert all(re.match(r"(?i)by ", s.bylines[0]) for s in bylined)
    with_slug = [s for s in archive if s.slugline]
    assert len(with_slug) > 10000
    assert all(s.urgency in range(1, 9) for s in with_slug)


def test_archive_detected(archive):
    for path in sorted(REUTERS.glob("reut2-*.sgm"))[:2]:
        assert detect_format(path.read_bytes()[:4096], filename=path.name) == "reuters_sgml"


# -- control characters ------------------------------------------------------

# Every C0 control but tab, newline and carriage return, and DEL.
RAW_CONTROLS = "".join(chr(c) for c in (*range(9), 11, 12, *range(14, 32), 127))


def test_raw_control_bytes_never_reach_a_text_field():
    """A damaged copy's raw control bytes are removed from every text field, as
    the references the collection writes for them (``&#3;``) always were."""
    element = (
        '<REUTERS NEWID="4\x0242"><DATE>2-APR-1987 10:00:00.00</DATE><UNKNOWN>\n'
        "&#5;&#5;&#5;F\n&#22;&#22;&#1;f0001&#31;reute\n"
        "u f BC-OTTER-F\x01ERRY\x7f   04-02 0042</UNKNOWN>"
        "<TEXT>&#2;\n<TITLE>OTTER F\x01ERRY LINE\x1b ADDS SAILINGS</TITLE>\n"
        "<AUTHOR>    By Wren Q\x05uill, Reuters</AUTHOR>\n"
        "<DATELINE>    PORTLAND\x00, April 2 - </DATELINE><BODY>Otter Ferry Line said it would\x01 add\n"
        "two sailings a day\x7f from May.\n"
        " Fares stay\x1f the same.\x0c\x03\n"
        " Reuter\n&#3;</BODY></TEXT></REUTERS>"
    )
    [story] = reuters_sgml.parse(element.encode("latin-1"))
    assert story.headline == "OTTER FERRY LINE ADDS SAILINGS"
    assert story.body_paragraphs == (
        "Otter Ferry Line said it would add two sailings a day from May.",
        "Fares stay the same.",
    )
    assert story.dateline == "PORTLAND, April 2"
    assert story.bylines == ("By Wren Quill, Reuters",)
    assert story.slugline == "BC-OTTER-FERRY"
    assert story.item_id == "442"
    for text in (story.headline, *story.body_paragraphs, story.dateline, *story.bylines,
                 story.slugline, story.item_id):
        assert not CONTROL.search(text), repr(text)


def test_raw_control_bytes_in_unprocessed_text_and_briefs():
    base = '<REUTERS NEWID="9"><TEXT TYPE="{kind}">{text}</TEXT></REUTERS>'
    unproc = base.format(kind="UNPROC", text="&#2;\nGRAIN\x01 STOCKS\x1e\n Wheat\x04....1,204\n Reuter\n&#3;")
    [story] = reuters_sgml.parse(unproc.encode("latin-1"))
    assert story.headline == "GRAIN STOCKS"
    assert story.body_paragraphs == ("Wheat....1,204",)
    brief = base.format(kind="BRIEF", text="******<TITLE>OTTER\x06 FERRY SOLD\x7f\n</TITLE>Blah blah blah.\n&#3;")
    [story] = reuters_sgml.parse(brief.encode("latin-1"))
    assert story.headline == "OTTER FERRY SOLD"
    assert story.body_paragraphs == (story.headline,)


@pytest.mark.parametrize("control", RAW_CONTROLS)
def test_every_raw_control_is_removed_like_its_reference(control):
    """A raw control byte and its ``&#N;`` reference give the same story."""
    element = (
        '<REUTERS NEWID="5"><TEXT><TITLE>OTTER{c} FERRY</TITLE>'
        "<BODY>Sailings{c} resume.\n Reuter\n{c}</BODY></TEXT></REUTERS>"
    )
    [raw] = reuters_sgml.parse(element.format(c=control).encode("latin-1"))
    [referenced] = reuters_sgml.parse(element.format(c=f"&#{ord(control)};").encode("latin-1"))
    assert (raw.headline, raw.body_paragraphs) == ("OTTER FERRY", ("Sailings resume.",))
    assert (raw.headline, raw.body_paragraphs) == (referenced.headline, referenced.body_paragraphs)
