"""Each format on the project's own fixtures (tests/data/formats/, stories written for the project)."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from transforms.formats import parse_bytes
from transforms.formats.detect import detect_format
from transforms.model import CaptionText, DeadLetterReason, ItemFailure, ParsedItem

DATA = Path(__file__).parent / "data" / "formats"


def _millis(*fields: int) -> int:
    return calendar.timegm((*fields, 0, 0, 0)) * 1000


def _parse(name: str) -> tuple[str, list]:
    return parse_bytes((DATA / name).read_bytes(), filename=name)


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("ninjs_1x_text.json", "ninjs"),
        ("ninjs_2x_text.json", "ninjs"),
        ("ninjs_3x_package.json", "ninjs"),
        ("newsml_g2_message.xml", "newsml_g2"),
        ("newsml_1x_two_items.xml", "newsml_1x"),
        ("nitf_story.xml", "nitf"),
        ("iptc7901_story.txt", "iptc7901"),
        ("anpa_story.tst", "anpa1312"),
        ("ap_media_api.json", "ap_media_api_json"),
        ("aap_zczc.tst", "aap_text"),
        ("reuters_sample.sgm", "reuters_sgml"),
        ("ticker/plain_ticker_at_start.txt", "plain_text"),  # '<KESTREL MILLS LTD> 1ST QTR NET'
        ("ticker/plain_single_word_ticker.txt", "plain_text"),  # '<TALLIS> SEES ...'
    ],
)
def test_fixture_detected(name, fmt):
    data = (DATA / name).read_bytes()
    assert detect_format(data) == fmt
    assert detect_format(data, filename="renamed.bin") == fmt  # content decides, not the name


def test_ninjs_1x():
    fmt, [story] = _parse("ninjs_1x_text.json")
    assert fmt == "ninjs"
    assert story.headline == "Harbour authority reopens northern channel after dredging"
    assert story.standfirst == "Cargo ships can use the deeper channel from Monday."
    assert story.body_paragraphs == (
        "PORT ELLERY (EW) -- The harbour authority reopened the northern shipping channel on Monday "
        "after six weeks of dredging.",
        "Ships drawing up to 14 metres can now reach the container quay at any tide, the authority said.",
        '"We expect waiting times to halve," said harbour master Idris Vane.',
    )
    assert story.bylines == ("By Tamsin Okonkwo",)
    assert story.dateline is None  # body carries the fuller 'PORT ELLERY (EW) --'
    assert story.captions == (CaptionText(
        text="A dredger works in the northern channel of Port Ellery harbour on March 4, 2024.",
        credit="Lena Marsh/Example Wire", kind="photo"),)
    assert (story.agency, story.urgency, story.slugline, story.version) == ("Example Wire", 3, "Harbour-Channel", "2")
    assert story.item_id == "urn:example:wire:20240311:harbour-channel"
    assert story.published_at == _millis(2024, 3, 11, 8, 45, 0)
    assert story.language == "en"


def test_ninjs_2x():
    _, [story] = _parse("ninjs_2x_text.json")
    assert story.headline == "Spätfrost bedroht Apfelblüte im Alten Land"
    assert story.standfirst == "Obstbauern rechnen mit Ernteausfällen."
    assert len(story.body_paragraphs) == 2 and story.body_paragraphs[0].startswith("Jork (ew) - ")
    assert story.bylines == ("Jonas Feld",)
    assert story.agency == "Example Wire"
    assert story.language == "de"
    assert story.published_at == _millis(2024, 3, 12, 5, 10, 30)


def test_ninjs_3x_array_with_non_stories():
    _, results = _parse("ninjs_3x_package.json")
    story, picture, event = results
    assert isinstance(story, ParsedItem) and story.item_index == 0
    assert story.headline == "Le conseil approuve le nouveau pont sur la Dordogne"
    assert story.body_paragraphs[1] == "Les travaux doivent commencer à l'automne."
    assert story.version == "3" and story.urgency == 2 and story.language == "fr"
    assert story.published_at == _millis(2024, 3, 13, 15, 20, 0)
    assert isinstance(picture, ItemFailure) and picture.reason == DeadLetterReason.NOT_A_STORY
    assert picture.item_index == 1 and b"bridge-photo" in picture.raw
    assert isinstance(event, ItemFailure) and event.reason == DeadLetterReason.NOT_A_STORY
    assert "event item" in event.error and event.error.startswith("ninjs:")


def test_newsml_g2_message_one_result_per_item():
    fmt, results = _parse("newsml_g2_message.xml")
    assert fmt == "newsml_g2"
    assert [getattr(r, "reason", "story") for r in results] == [
        DeadLetterReason.NOT_A_STORY, "story", DeadLetterReason.NOT_A_STORY, "story", "story"]
    # A story sent without a headline is reported as sent: enrichment derives one.
    assert results[3].headline == "" and results[3].body_paragraphs
    assert [getattr(r, "item_index") for r in results] == [0, 1, 2, 3, 4]
    mill = results[1]
    assert mill.headline == "UPDATE 2-Paper mill in Kendal to close with loss of 240 jobs"
    assert mill.version == "4"
    assert mill.slugline == "UK-MILL-CLOSURE"
    assert mill.dateline == "KENDAL, England, March 14 (EW)"
    assert mill.body_paragraphs[0].startswith("A paper mill that has worked beside the river Kent")
    assert mill.standfirst == "The owners blame energy costs."
    assert mill.bylines == ("By Priya Raman",)
    assert mill.credit_line == "Example Wire" and mill.agency == "Example Wire"
    assert mill.language == "en-GB" and mill.urgency == 3
    assert mill.published_at == _millis(2024, 3, 14, 9, 58, 12)
    assert "picture item" in results[2].error
    nitf_inside = results[4]
    assert nitf_inside.headline == "La lluvia vuelve a Murcia tras cien días"
    assert nitf_inside.language == "es"
    assert nitf_inside.body_paragraphs[1] == "Los agricultores celebraron la noticia."
    assert nitf_inside.published_at == _millis(2024, 3, 14, 8, 0, 0)


def test_newsml_1x_with_parameter_entity_doctype():
    fmt, results = _parse("newsml_1x_two_items.xml")
    assert fmt == "newsml_1x"
    story, video = results
    assert story.headline == "Alpine glacier lost a tenth of its ice in two summers"
    assert story.standfirst == "Survey points to record melt"
    assert story.dateline == "ZURICH, March 16, 2024 (EW)"
    assert story.body_paragraphs[0].startswith("A glacier above the Rhone valley")  # repeat removed
    assert story.bylines == ("Marta Keller",)
    assert story.captions == (CaptionText(text="The glacier seen from the valley, March 2024.",
                                          credit="EW/Anna Roth", kind="photo"),)
    assert (story.version, story.urgency, story.agency) == ("2", 3, "EW")
    assert story.published_at == _millis(2024, 3, 16, 11, 45, 0)
    assert isinstance(video, ItemFailure) and video.reason == DeadLetterReason.NOT_A_STORY


def test_nitf_latin1_with_media_and_table():
    _, [story] = _parse("nitf_story.xml")
    assert story.headline == "Ferry crews walk out on Orkney routes"
    assert story.standfirst == "No sailings are expected before Saturday."
    assert story.bylines == ("By Calum Reid, Transport Correspondent",)
    assert story.dateline is None  # the body's 'KIRKWALL (EW) —' is fuller
    assert story.body_paragraphs[2] == "The café at the pier closed early."
    assert story.body_paragraphs[-1] == "Westray cancelled"  # a table row is one paragraph
    assert story.captions == (CaptionText(text="A ferry tied up at Kirkwall pier on Friday.",
                                          credit="Ewan Flett/Example Wire", kind="photo"),)
    assert (story.slugline, story.version, story.urgency) == ("FERRY-STRIKE", "2", 4)
    assert story.item_id == "EW.2024.0315.ferry"
    assert story.published_at == _millis(2024, 3, 15, 5, 30, 0)


def test_iptc7901_control_characters():
    _, [story] = _parse("iptc7901_story.txt")
    assert story.headline == "Rail strike halts most long-distance trains in Germany"
    assert story.bylines == ("By Ute Müller, dpa",)  # Latin-1 byte decoded
    assert story.version == "2ND LEAD"
    assert story.slugline == "Germany-rail/strike"
    assert story.urgency == 2 and story.agency == "dpa" and story.item_id == "eca0311"
    assert story.body_paragraphs == (
        "Berlin (dpa) - A strike by train drivers halted most long-distance services in Germany on "
        "Tuesday, the rail operator said.",
        "About one in five trains was running, mainly in the south.",
    )
    assert story.published_at == _millis(2024, 3, 12, 14, 12, 0)  # 'Mär' is March


def test_anpa_control_characters_and_markers():
    _, [story] = _parse("anpa_story.tst")
    assert story.headline == "Ice fishermen rescued after floe breaks off"
    assert story.bylines == ("By HANNA LIND, Associated Press",)
    assert story.slugline == "BC-US--Lake-Rescue"
    assert story.version == "2nd Ld-Writethru"
    assert story.urgency == 3  # 'u' urgent
    assert story.agency == "AP"
    assert story.published_at == _millis(2022, 4, 2, 22, 14, 0)
    assert len(story.body_paragraphs) == 2  # the '___' rule is not a paragraph
    assert all("\x03" not in p and "^" not in p for p in story.body_paragraphs)


def test_ap_media_api_with_attached_text():
    _, [story] = _parse("ap_media_api.json")
    assert story.headline == "Library returns a book 80 years overdue"
    assert story.standfirst == "A library in Vermont got back a book borrowed in 1944"
    assert story.body_paragraphs[1] == "The librarian said no fine would be charged."
    assert story.bylines == ("By ROSA DELGADO, Associated Press",)
    assert story.dateline == "MONTPELIER, Vt."
    assert (story.version, story.item_id, story.agency) == ("2", "5b1c0f00aa", "AP")


def test_aap_zczc_cr_line_ends():
    _, [story] = _parse("aap_zczc.tst")
    assert story.headline == "Lifesavers pull 14 from rip at Bondi"
    assert story.slugline == "Surf-Rescue"
    assert story.version == "2nd Lead"
    assert story.agency == "AAP"
    assert story.credit_line == "SOURCE: Surf Life Saving NSW"
    assert story.body_paragraphs == (
        "SYDNEY, Jan 7 AAP - Volunteer lifesavers pulled 14 swimmers from a rip at Bondi Beach on Sunday "
        "afternoon.",
        "No one was seriously hurt, a spokeswoman said.",
    )
