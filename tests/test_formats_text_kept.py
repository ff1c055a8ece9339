"""Text that arrived is kept (issue 17): NITF inside NewsML 1.2, leads sent as
components, ninjs ``body_html5``, NITF datelines from their elements.

Fixtures in tests/data/formats/kept/ are stories written for the project in
the shapes the agencies use; the real samples in ../shared/corpora are only
checked where they are present.
"""

from __future__ import annotations

import calendar
from pathlib import Path
from xml.etree.ElementTree import fromstring

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.formats import nitf, ninjs, parse_bytes
from transforms.formats.detect import detect_format
from transforms.model import CaptionText, DeadLetterReason, ItemFailure, ParsedItem, ParseError

KEPT = Path(__file__).parent / "data" / "formats" / "kept"
FIXTURES = sorted(KEPT.iterdir())
SAMPLES = Path(__file__).parents[1].parent / "shared" / "corpora" / "wire_formats"


def _millis(*fields: int) -> int:
    return calendar.timegm((*fields, 0, 0, 0)) * 1000


def _parse(name: str) -> list:
    _, results = parse_bytes((KEPT / name).read_bytes(), filename=name)
    return results


def _sample(name: str) -> ParsedItem:
    matches = list(SAMPLES.glob(f"*/{name}"))
    if not matches:
        pytest.skip(f"sample {name} not found in {SAMPLES}")
    _, results = parse_bytes(matches[0].read_bytes(), filename=name)
    return results[0]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixtures_are_detected_by_content(path):
    expected = {"newsml": "newsml_1x", "ninjs": "ninjs", "nitf": "nitf"}[path.name.split("_")[0]]
    assert detect_format(path.read_bytes(), filename="renamed.bin") == expected


# -- NewsML 1.2 carrying NITF ---------------------------------------------------


def test_nitf_marked_complex_data_is_a_story_not_a_media_item():
    [story] = _parse("newsml_1x_relayed_nitf.xml")
    assert isinstance(story, ParsedItem)
    assert story.headline == "Icebreaker frees cargo ships held in White Sea ice"
    assert len(story.body_paragraphs) == 3
    assert story.body_paragraphs[0].startswith("ARKHANGELSK, April 5 (EWM) - A nuclear icebreaker")
    assert story.body_paragraphs[2] == "Ice in the area is thicker than usual for April after a cold March."
    assert story.dateline is None  # the body's 'ARKHANGELSK, April 5 (EWM) -' is fuller
    assert story.captions == (CaptionText(
        text="The icebreaker cuts a channel near Arkhangelsk, April 5, 2024.", credit="EWM/Oleg Tarkov"),)
    assert (story.agency, story.credit_line, story.urgency, story.language) == ("EWM", "EWM", 4, "en")
    assert story.published_at == _millis(2024, 4, 5, 9, 10, 0)  # +03:00


def test_nitf_sent_as_text_gives_headline_dateline_and_abstract():
    [story] = _parse("newsml_1x_relayed_nitf_text.xml")
    # No NewsLines but Belga's placeholder: the embedded NITF stands in.
    assert story.headline == "Night train to Murmansk returns after track repairs"
    assert story.dateline == "Petrozavodsk, Russia"  # its story.date is a time stamp: left out
    assert story.standfirst == "Repairs on the northern line took five weeks."
    assert story.body_paragraphs == (
        "The overnight passenger train between Petrozavodsk and Murmansk ran again on Saturday after five "
        "weeks of track repairs, the railway said.",
        "Tickets for the first week sold out within a day.",
    )
    assert not any("<" in p for p in story.body_paragraphs)


def _newsml(content_item: str) -> bytes:
    return (
        "<NewsML><NewsItem><Identification><NewsIdentifier><NewsItemId>x1</NewsItemId></NewsIdentifier>"
        "</Identification><NewsComponent><NewsLines><HeadLine>Dam opens its gates</HeadLine></NewsLines>"
        f"{content_item}</NewsComponent></NewsItem></NewsML>").encode("utf-8")


def test_complex_data_without_text_is_still_not_a_story():
    data = _newsml('<ContentItem Href="a.zip"><MediaType FormalName="ComplexData"/>'
                   '<MimeType FormalName="application/zip"/></ContentItem>')
    with pytest.raises(ParseError) as raised:
        parse_bytes(data)
    assert raised.value.reason == DeadLetterReason.NOT_A_STORY


def test_complex_data_with_a_text_format_is_read():
    data = _newsml('<ContentItem><MediaType FormalName="ComplexData"/><MimeType FormalName="text/plain"/>'
                   "<DataContent>The gates opened at noon.</DataContent></ContentItem>")
    _, [story] = parse_bytes(data)
    assert story.body_paragraphs == ("The gates opened at noon.",)


def test_a_broken_nitf_sent_as_text_is_malformed_not_lost():
    data = _newsml('<ContentItem><MediaType FormalName="ComplexData"/>'
                   "<DataContent><![CDATA[<nitf><body><body.content><p>Cut off]]></DataContent></ContentItem>")
    with pytest.raises(ParseError) as raised:
        parse_bytes(data)
    assert raised.value.reason == DeadLetterReason.MALFORMED
    assert str(raised.value).startswith("newsml_1x:")


# -- NewsML 1.2 leads sent as components ------------------------------------------


def test_lead_component_is_the_standfirst():
    story = _parse("newsml_1x_lead_component.xml")[0]
    assert story.headline == "Gent opent nieuwe fietsbrug over de Leie"  # not Belga's placeholder
    assert story.standfirst == (
        "Fietsers kunnen vanaf maandag over een nieuwe brug van het station naar de binnenstad rijden.")
    assert story.body_paragraphs == (
        "De brug is tachtig meter lang en vier meter breed.",
        "De bouw duurde twee jaar en kostte negen miljoen euro.",
    )


def test_lead_component_beside_a_body_is_kept():
    data = _newsml(
        '<NewsComponent><Role FormalName="Lead"/><ContentItem><Format FormalName="Text"/>'
        "<DataContent>All six gates were opened.</DataContent></ContentItem></NewsComponent>"
        '<NewsComponent><Role FormalName="Body"/><ContentItem><Format FormalName="Text"/>'
        "<DataContent>Water levels fell.</DataContent></ContentItem></NewsComponent>")
    _, [story] = parse_bytes(data)
    assert story.standfirst == "All six gates were opened."
    assert story.body_paragraphs == ("Water levels fell.",)


def test_lead_opens_the_body_when_a_subheadline_is_the_standfirst():
    story = _parse("newsml_1x_lead_component.xml")[1]
    assert story.standfirst == "Kwartaalcijfers"
    assert story.body_paragraphs == (
        "De haven behandelde in het eerste kwartaal twaalf procent meer containers dan een jaar eerder.",
        "Vooral de lijnen naar Scandinavië groeiden.",
    )


def test_lead_without_a_body_is_a_brief():
    story = _parse("newsml_1x_lead_component.xml")[2]
    assert story.body_paragraphs == (
        "Het treinverkeer in Brussel-Zuid is na een stroomstoring van een uur hervat.",)
    assert story.standfirst is None


def test_lead_the_body_opens_with_is_not_repeated():
    data = _newsml(
        '<NewsComponent><Role FormalName="Lead"/><ContentItem><MediaType FormalName="Text"/>'
        "<DataContent>The gates opened at noon.</DataContent></ContentItem></NewsComponent>"
        '<NewsComponent><Role FormalName="Body"/><ContentItem><MediaType FormalName="Text"/>'
        "<DataContent>The gates opened at noon.\n\nWater levels fell.</DataContent></ContentItem></NewsComponent>")
    _, [story] = parse_bytes(data)
    assert story.body_paragraphs == ("The gates opened at noon.", "Water levels fell.")
    assert story.standfirst is None


def test_abstract_component_of_a_real_press_release_is_kept():
    story = _sample("superdesk-cp__20210130005024r1.xml")
    assert story.standfirst == "Interactive Brokers lifts all trading restrictions on options"


# -- ninjs body_html5 -----------------------------------------------------------------


def test_ninjs_body_html5_is_the_body_and_the_description_the_standfirst():
    [story] = _parse("ninjs_body_html5.json")
    assert story.headline == "Färjan till Gotland ställs in efter storm"
    assert story.standfirst == "Stormen stoppar trafiken till Visby."
    assert len(story.body_paragraphs) == 4
    assert story.body_paragraphs[1] == "Vindbyarna väntas nå 30 meter per sekund under förmiddagen."
    assert story.body_paragraphs[-1] == "Rederiet hoppas kunna köra kvällsturen som vanligt."


def _ninjs(**fields) -> ParsedItem:
    return ninjs.parse_item({"uri": "u1", "type": "text", "headline": "Storm closes the bridge", **fields})


def test_ninjs_markup_bodies_win_over_run_on_text():
    story = _ninjs(body_text="One. Two.", body_html5="<p>One.</p><p>Two.</p>")
    assert story.body_paragraphs == ("One.", "Two.")
    story = _ninjs(body_html="<p>Short.</p>", body_html5="<p>Full one.</p><p>Full two.</p>")
    assert story.body_paragraphs == ("Full one.", "Full two.")


def test_ninjs_html5_document_head_is_not_body_text():
    story = _ninjs(body_html5="<!DOCTYPE html><html><head><title>storm-bridge</title>"
                              "<meta charset='utf-8'></head><body><header><p>The bridge shut at six.</p>"
                              "</header></body></html>")
    assert story.body_paragraphs == ("The bridge shut at six.",)


def test_ninjs_description_alone_is_still_a_brief():
    story = _ninjs(description_text="The bridge shut at six.")
    assert (story.body_paragraphs, story.standfirst) == (("The bridge shut at six.",), None)


# -- NITF datelines from their elements ------------------------------------------------


@pytest.mark.parametrize(
    "markup, expected",
    [
        ("<dateline><location>BEIJING</location><story.date>July 23</story.date></dateline>", "BEIJING, July 23"),
        ("<dateline><location>LONDON</location>, <story.date norm='20240315'>March 15</story.date></dateline>",
         "LONDON, March 15"),
        ("<dateline>WASHINGTON, <story.date>March 3</story.date></dateline>", "WASHINGTON, March 3"),
        ("<dateline><location><city>Ottawa</city> <state>Ontario</state></location>"
         "<story.date norm='20200703T165136-0400'/></dateline>", "Ottawa, Ontario"),
        ("<dateline><location><city>Esbjerg</city></location>"
         "<story.date norm='20240410T071500Z'>20240410T071500Z</story.date></dateline>", "Esbjerg"),
        ("<dateline><story.date norm='20190121T103600+0000'>20190121T103600+0000</story.date></dateline>", None),
        ("<dateline><story.date norm='x'>2024-04-11 09:30</story.date></dateline>", None),
        ("<dateline/>", None),
    ],
)
def test_dateline_text(markup, expected):
    assert nitf.dateline_text(fromstring(markup)) == expected


def test_nitf_dateline_from_location_not_the_time_stamp():
    _, [story] = parse_bytes((KEPT / "nitf_dateline_elements.xml").read_bytes())
    assert story.dateline == "Esbjerg, Denmark"
    assert story.published_at == _millis(2024, 4, 10, 7, 15, 0)
    assert story.bylines == ("Freya Lund, Example Wire",)


def test_nitf_dateline_of_only_a_time_stamp_leaves_the_body_dateline():
    _, [story] = parse_bytes((KEPT / "nitf_stamp_only_dateline.xml").read_bytes())
    assert story.dateline is None
    assert story.body_paragraphs[0].startswith("JAEN, April 11 (EW) - Olive growers")
    assert story.published_at == _millis(2024, 4, 11, 9, 30, 0)


def test_nitf_dateline_in_a_block_head_leaves_the_body():
    _, [story] = parse_bytes((KEPT / "nitf_block_dateline.xml").read_bytes())
    assert story.dateline == "STROMNESS, Orkney"
    assert story.body_paragraphs == (
        "The cottage beside the old lighthouse opened to visitors on Friday, with the keeper's logbooks on show.",
        "Entry is free until the end of May.",
    )


def test_story_text_never_raises_on_an_empty_document():
    text = nitf.story_text(fromstring("<nitf/>"))
    assert text == nitf.NitfText("", "", (), None, (), ())


# -- damaged fixtures ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURES), st.floats(min_value=0.0, max_value=1.0))
def test_truncated_fixtures_never_crash(path, fraction):
    data = path.read_bytes()
    try:
        _, results = parse_bytes(data[: int(len(data) * fraction)])
    except ParseError as error:
        assert error.reason and str(error)
        return
    for result in results:
        if isinstance(result, ParsedItem):
            assert result.headline and result.body_paragraphs
        else:
            assert isinstance(result, ItemFailure) and result.reason
