"""NewsML-G2, NewsML 1.x and ninjs copy where Superdesk's parser tests showed us missing something (issue 17).

The fixtures in ``tests/data/formats/peer/`` are stories written for these
tests in the shapes the agencies use (GlobeNewswire's press-release G2, a
data service's date-only lead, STT's escaped inline markup and empty
headline, BusinessDesk's NITF inside G2, EFE's NewsML 1.2 with a lead it
signs, Superdesk ninjs with ``authors``); no agency text is copied. Each
case is checked on the parser's output and, where the normalizer finishes
the job (datelines, bylines, a derived headline), on the ``Story`` record
``enrich_item`` makes of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms.enrich import enrich_item
from transforms.formats import parse_bytes
from transforms.formats._common import agency_key, lead_dateline
from transforms.language.detect import LanguageDetector
from transforms.model import DeadLetterReason, ItemFailure, ParsedInput, ParsedItem, SourcePosition, Story

PEER = Path(__file__).parent / "data" / "formats" / "peer"


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    found = LanguageDetector(seed=0)
    found.load()
    return found


def _parsed(name: str) -> tuple[str, list]:
    data = (PEER / name).read_bytes()
    return parse_bytes(data, filename=name)


def _story(name: str, detector: LanguageDetector) -> tuple[ParsedItem, Story]:
    data = (PEER / name).read_bytes()
    _, results = parse_bytes(data, filename=name)
    [item] = [r for r in results if isinstance(r, ParsedItem)]
    story, _ = enrich_item(ParsedInput(item=item, source=SourcePosition("file", str(PEER / name)), raw=data),
                           detector, ingested_at=1)
    return item, story


# -- NewsML-G2 -------------------------------------------------------------------


def test_press_release_wire_is_no_byline_and_its_dateline_leaves_the_body(detector):
    item, story = _story("g2_press_release.xml", detector)
    # The creator is the wire (organisationDetails, the provider's name): not a person.
    assert item.bylines == () and story.bylines == ()
    # The <h1> repeating the headline is not body text; the sub-headline is.
    assert item.body_paragraphs[0] == "Plant doubles the company's output of dried seaweed"
    # The declared place (located: Halifax) vouches for the fuller dateline behind the sub-headline.
    assert item.dateline == "HALIFAX, Nova Scotia, March 04, 2024 (GLOBE NEWSWIRE)"
    assert item.body_paragraphs[1].startswith("Harbour Kelp Co. said on Monday")
    assert story.dateline is not None and story.dateline.place.startswith("Halifax")
    assert story.dateline.date == "March 04, 2024"
    assert "GLOBE NEWSWIRE" not in story.body and "HALIFAX" not in story.body
    assert item.language == "en-US"  # as declared; canonical codes are enrichment's business


def test_date_only_lead_of_a_data_service_is_the_dateline(detector):
    item, story = _story("g2_data_service.xml", detector)
    assert item.dateline == "Feb 11 (Gracenote)"
    # The text table (rows on lines, columns padded) gives a paragraph per row.
    assert item.body_paragraphs == (
        "Results from the northern curling league on Sunday", "Ridgeway 7 Lakeside 5", "Old Mill 6 Stonebridge 6")
    assert (story.dateline.place, story.dateline.date, story.dateline.agency) == (None, "Feb 11", "Gracenote")
    # The creator without a role is the agency itself (infoSource, copyright holder): no byline.
    assert item.bylines == ()


def test_escaped_inline_markup_keeps_its_text_and_an_empty_headline_is_reported_as_sent(detector):
    item, story = _story("g2_escaped_markup.xml", detector)
    assert item.body_paragraphs[0] == "Uusille rannoille mahtuu 12-15 tuhatta kävijää päivässä."
    assert not any("endash" in p or "<" in p for p in item.body_paragraphs)
    assert item.headline == ""  # as sent: enrichment derives one
    assert item.standfirst == "Kaupunki avaa kolme uutta uimarantaa kesäksi."
    assert story.headline and story.headline_derived
    assert story.standfirst == item.standfirst


def test_nitf_inside_g2_gives_headline_and_the_body_opens_with_byline_and_dateline(detector):
    fmt, results = _parsed("g2_embedded_nitf.xml")
    assert fmt == "newsml_g2"
    assert isinstance(results[0], ItemFailure) and results[0].reason == DeadLetterReason.NOT_A_STORY
    item, story = _story("g2_embedded_nitf.xml", detector)
    assert item.item_index == 1
    assert item.headline == "Ferry operator orders two electric boats for the harbour run"
    # The body's own "By <Name>" paragraph names the writer; the NITF byline only says "Staff Reporter".
    assert item.bylines == ("By Mere Tautahi",)
    assert [c.name for c in story.bylines] == ["Mere Tautahi"]
    assert item.dateline == "Mar. 2 (BusinessDesk)"
    assert item.body_paragraphs[0].startswith("A harbour ferry operator has ordered")
    assert story.dateline.date == "Mar. 2" and not story.headline_derived


# -- NewsML 1.x ------------------------------------------------------------------


def test_lead_signed_by_the_items_agency_is_the_dateline(detector):
    item, story = _story("newsml_1x_signed_lead.xml", detector)
    # The NITF dateline holds only a time stamp: the written one is the body's, signed (EFE).
    assert item.dateline == "Lima, 3 mar (EFE)"
    assert item.body_paragraphs[0].startswith("Un museo dedicado a los tejidos andinos")
    assert story.dateline.place.startswith("Lima") and story.dateline.agency == "EFE"
    assert item.bylines == ()  # 'abc/de' are desk initials, not a byline
    assert item.language == "es-ES"


# -- ninjs -----------------------------------------------------------------------


def test_superdesk_authors_join_the_byline_once_and_editors_are_not_bylines(detector):
    item, story = _story("ninjs_authors.json", detector)
    assert item.bylines == ("Ana Ortiz and Ben Hale", "Cleo Marsh")
    assert [c.name for c in story.bylines] == ["Ana Ortiz", "Ben Hale", "Cleo Marsh"]


# -- the lead-dateline rule on its own -------------------------------------------


@pytest.mark.parametrize("paragraphs, place, agencies, expected", [
    (("CALGARY, Alberta, Dec. 03, 2019 (GLOBE NEWSWIRE) -- Text.",), "Calgary, AB, Canada", (),
     "CALGARY, Alberta, Dec. 03, 2019 (GLOBE NEWSWIRE)"),
    (("Nueva Delhi, 21 ene (EFE).- Texto.",), None, ("Agencia EFE",), "Nueva Delhi, 21 ene (EFE)"),
    (("Jan 3 (OPTA) - Results.",), None, (), "Jan 3 (OPTA)"),
    (("Short sub-headline", "OTTAWA, June 9 (WIRE) -- Text."), "Ottawa, ON", (), "OTTAWA, June 9 (WIRE)"),
])
def test_lead_dateline_lifts_what_the_item_vouches_for(paragraphs, place, agencies, expected):
    dateline, rest = lead_dateline(paragraphs, place, agencies)
    assert dateline == expected
    assert len(rest) == len(paragraphs) and not any(expected in p for p in rest)


@pytest.mark.parametrize("paragraphs, place, agencies", [
    (("The company (AXL) - said it would sell.",), None, ()),  # a sentence, no date, unknown credit
    (("PARIS (AFP) - Text.",), None, ("Reuters",)),  # not the item's agency, no declared place
    (("Short sub-headline", "PARIS (AFP) - Text."), None, ("AFP",)),  # behind a paragraph only the place vouches
    (("He said: Jan 3 (OPTA) - no.",), None, ()),  # not at the start
    (("CALGARY, Alberta (GLOBE NEWSWIRE) Text without a dash.",), "Calgary", ()),
])
def test_lead_dateline_leaves_everything_else(paragraphs, place, agencies):
    assert lead_dateline(paragraphs, place, agencies) == (None, paragraphs)


def test_agency_key_matches_domains_and_spacing():
    assert agency_key("globenewswire.com") == agency_key("GLOBE NEWSWIRE") == "globenewswire"
    assert agency_key(None) == ""


# -- NITF ------------------------------------------------------------------------


def test_nitf_lead_in_the_event_city_is_the_dateline_and_keywords_are_not_a_slugline(detector):
    item, story = _story("nitf_signed_lead.xml", detector)
    assert item.dateline == "Quito, 4 mar (EFE)"
    assert item.body_paragraphs[0].startswith("Some three thousand runners")
    assert story.dateline.place.startswith("Quito") and story.dateline.agency == "EFE"
    assert item.slugline is None  # a key-list keyword is a keyword, not a delivered slugline
    assert item.bylines == () and story.bylines == ()  # desk initials name no one
