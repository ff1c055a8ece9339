"""Format detection and parsing on the real agency samples in ../shared/corpora/wire_formats.

Expected values were written by reading the sample files; only headlines
and short factual strings (bylines, datelines, sluglines, ids) are quoted.
"""

from __future__ import annotations

import calendar
import csv
import re
from pathlib import Path

import pytest

from transforms.formats import PARSERS, parse_bytes
from transforms.formats.detect import detect_format
from transforms.model import DeadLetterReason, ItemFailure, ParsedItem, ParseError

CORPORA = Path(__file__).parents[1].parent / "shared" / "corpora"
SAMPLES = CORPORA / "wire_formats"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# aap_text samples that carry no AAP envelope or signature (a race table, a
# ticker): content detection calls them plain text, a hint names them.
UNSIGNED_AAP = {
    "superdesk-aap__CRN2016427R1.tst",
    "superdesk-aap__ticker_sample.txt",
}

# Samples that are dead-lettered as a whole, and why (decisions in the
# parser docstrings: media, concept, planning, catalog and package items
# are not stories; some test fixtures upstream lack a headline or a body).
WHOLE_DEAD_LETTERS = {
    "superdesk-aap__ticker_sample.txt": DeadLetterReason.MISSING_BODY,
    "superdesk-cp__ap-aps-mi-right-now.json": DeadLetterReason.MISSING_BODY,
    "superdesk-cp__ap-aps.json": DeadLetterReason.MISSING_BODY,
    "superdesk-cp__ap-getty-picture.json": DeadLetterReason.NOT_A_STORY,
    "superdesk-cp__ap-picture.json": DeadLetterReason.NOT_A_STORY,
    "superdesk-cp__picture.json": DeadLetterReason.NOT_A_STORY,
    "superdesk-belga__belga_newsml_1_2_audio2.xml": DeadLetterReason.NOT_A_STORY,
    "superdesk-belga__belga_newsml_1_2_video.xml": DeadLetterReason.NOT_A_STORY,
    "newsml-g2__LISTING_10_Abstract_Concept_conveyed_in_a_NewsML-G2_Concept_Item.xml": DeadLetterReason.NOT_A_STORY,
    "newsml-g2__LISTING_12_Knowledge_Item_for_Access_Codes.xml": DeadLetterReason.NOT_A_STORY,
    "newsml-g2__LISTING_13_Complete_Catalog_Item.xml": DeadLetterReason.NOT_A_STORY,
    "newsml-g2__LISTING_16_A_Set_of_Events_carried_in_a_News_Item.xml": DeadLetterReason.NOT_A_STORY,
    "newsml-g2__LISTING_18_Planning_Item_at_PCL.xml": DeadLetterReason.NOT_A_STORY,
    "newsml-g2__LISTING_23_SportsML-G2_Package.xml": DeadLetterReason.NOT_A_STORY,
    "newsml-g2__LISTING_26_Embedded_photo_metadata_fields_mapped_to_NewsML-G2.xml": DeadLetterReason.NOT_A_STORY,
    "newsml-g2__LISTING_4_Multiple_Renditions_of_a_Video_in_NewsML-G2.xml": DeadLetterReason.NOT_A_STORY,
    "newsml-g2__LISTING_6_Simple_NewsML-G2_Package.xml": DeadLetterReason.NOT_A_STORY,
    "superdesk-core__LISTING_6_Simple_NewsML-G2_Package.xml": DeadLetterReason.NOT_A_STORY,
    "newsml-g2__ap_metadata_example.xml": DeadLetterReason.NOT_A_STORY,
    "newsml-g2__facet-example.xml": DeadLetterReason.MISSING_BODY,
    "superdesk-core__picture.xml": DeadLetterReason.NOT_A_STORY,
    "superdesk-core__tag_reuters.com_0000_newsml_GM1EA7M13RP01_version_484616934.xml": DeadLetterReason.NOT_A_STORY,
    "superdesk-core__tag_reuters.com_2014_newsml_LYNXMPEA6F0MS_version_2.xml": DeadLetterReason.NOT_A_STORY,
    "superdesk-core__tag_reuters.com_2014_newsml_LYNXMPEA6F0MT_version_2.xml": DeadLetterReason.NOT_A_STORY,
    "superdesk-core__tag_reuters.com_2014_newsml_LYNXMPEA6F13M_version_1.xml": DeadLetterReason.NOT_A_STORY,
    "newsinjson__1.4_ninjs-1-4-examples.json": DeadLetterReason.MISSING_BODY,
    "newsinjson__1.4_ninjsExSimplePhoto1.json": DeadLetterReason.NOT_A_STORY,
    "newsinjson__2.1_SIPA_image_2.json": DeadLetterReason.NOT_A_STORY,
    "newsinjson__2.1_ap_audio.json": DeadLetterReason.NOT_A_STORY,
    "newsinjson__2.1_ap_video.json": DeadLetterReason.NOT_A_STORY,
    "newsinjson__3.0_20231016-addb-example-press-conference.json": DeadLetterReason.NOT_A_STORY,
    "newsinjson__3.0_SIPA_image_3.json": DeadLetterReason.NOT_A_STORY,
    "newsinjson__3.0_ap_audio.json": DeadLetterReason.NOT_A_STORY,
    "newsinjson__3.0_ap_video.json": DeadLetterReason.NOT_A_STORY,
    "newsinjson__3.0_simpleEvent.json": DeadLetterReason.NOT_A_STORY,
    "newsinjson__3.1_006_photo_only.json": DeadLetterReason.NOT_A_STORY,
    "newsinjson__3.1_008_event.json": DeadLetterReason.NOT_A_STORY,
    "superdesk-core__aap-finance-lite.xml": DeadLetterReason.MISSING_BODY,
}


def _millis(*fields: int) -> int:
    return calendar.timegm((*fields, 0, 0, 0)) * 1000


@pytest.fixture(scope="module")
def manifest() -> list[dict]:
    path = SAMPLES / "MANIFEST.tsv"
    if not path.exists():
        pytest.skip(f"wire format samples not found in {SAMPLES}")
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _sample(name: str) -> bytes:
    matches = list(SAMPLES.glob(f"*/{name}"))
    if not matches:
        pytest.skip(f"sample {name} not found in {SAMPLES}")
    return matches[0].read_bytes()


def _story(name: str, index: int = 0) -> ParsedItem:
    data = _sample(name)
    _, results = parse_bytes(data, filename=name)
    stories = [r for r in results if isinstance(r, ParsedItem)]
    return stories[index]


# -- detection ---------------------------------------------------------------


def test_every_sample_is_detected_as_its_manifest_format(manifest):
    wrong = []
    for row in manifest:
        path = CORPORA / row["local_path"]
        name = path.name
        expected = None if row["format"] == "other_agency_xml" else row["format"]
        if name in UNSIGNED_AAP:
            expected = "plain_text"
        got = detect_format(path.read_bytes(), filename=name)
        if got != expected:
            wrong.append((name, row["format"], got))
    assert wrong == []
    assert len(manifest) == 146


def test_unsigned_aap_samples_are_read_as_aap_text_when_hinted(manifest):
    for row in manifest:
        if Path(row["local_path"]).name in UNSIGNED_AAP:
            data = (CORPORA / row["local_path"]).read_bytes()
            assert detect_format(data, hint="aap_text") == "aap_text"
            assert detect_format(data, hint="AAP") == "aap_text"


def test_other_vocabularies_are_unrecognised(manifest):
    others = [row for row in manifest if row["format"] == "other_agency_xml"]
    assert len(others) == 7
    for row in others:
        with pytest.raises(ParseError) as raised:
            parse_bytes((CORPORA / row["local_path"]).read_bytes())
        assert raised.value.reason == DeadLetterReason.UNRECOGNISED_FORMAT


# -- every sample: stories or reasoned dead letters ---------------------------


def test_every_sample_parses_to_stories_or_reasoned_dead_letters(manifest):
    stories = 0
    for row in manifest:
        if row["format"] == "other_agency_xml":
            continue
        path = CORPORA / row["local_path"]
        hint = "aap_text" if path.name in UNSIGNED_AAP else None
        expected_dead = WHOLE_DEAD_LETTERS.get(path.name)
        try:
            fmt, results = parse_bytes(path.read_bytes(), filename=path.name, hint=hint)
        except ParseError as error:
            assert expected_dead == error.reason, (path.name, error.reason, str(error))
            assert error.format == row["format"]
            assert row["format"] in str(error), str(error)
            continue
        assert expected_dead is None, (path.name, "expected a dead letter")
        assert fmt == row["format"] and fmt in PARSERS
        assert results, path.name
        for index, result in enumerate(results):
            if isinstance(result, ItemFailure):
                assert result.reason in (
                    DeadLetterReason.NOT_A_STORY, DeadLetterReason.MISSING_HEADLINE, DeadLetterReason.MISSING_BODY)
                assert result.format == fmt and result.raw
                continue
            stories += 1
            assert result.format == fmt
            # A headline may be missing (enrichment derives one), never padded.
            assert result.headline.strip() == result.headline, path.name
            assert result.body_paragraphs and all(p.strip() for p in result.body_paragraphs), path.name
            for text in (result.headline, result.standfirst or "", *result.body_paragraphs, *result.bylines):
                assert not CONTROL.search(text), (path.name, text[:80])
            if len(results) > 1:
                assert result.item_index == index
    assert stories >= 85


def test_declared_languages_match_the_manifest(manifest):
    checked = 0
    for row in manifest:
        declared = [code for code in row["declared_language"].split("|") if code]
        path = CORPORA / row["local_path"]
        if not declared or path.name in WHOLE_DEAD_LETTERS or row["format"] == "other_agency_xml":
            continue
        _, results = parse_bytes(path.read_bytes(), filename=path.name)
        for story in (r for r in results if isinstance(r, ParsedItem)):
            assert story.language, path.name
            assert story.language.lower().split("-")[0] in declared, (path.name, story.language, declared)
            checked += 1
    assert checked >= 50


# -- field values per format ----------------------------------------------------


def test_ninjs_1x_complex_text_with_picture():
    story = _story("newsinjson__1.4_ninjsExComplex1.json")
    assert story.headline == "Captain of wrecked cruise ship on trial in Italy"
    assert story.bylines == ("Paulo Santalucia and Frances d'Emilio",)
    assert story.language == "en"
    assert story.published_at == _millis(2013, 7, 9, 10, 37, 0)
    assert len(story.body_paragraphs) == 4  # from body_xhtml, not the run-on body_text
    assert story.body_paragraphs[0].startswith("GROSSETO, Italy (AP) --")
    assert story.dateline is None  # the body's own dateline is fuller than 'located'
    assert len(story.captions) == 1
    assert story.captions[0].credit == "Paulo Santalucia"
    assert "Costa Concordia" in story.captions[0].text


def test_ninjs_2x_and_3x_ntb_brief():
    for name in ("newsinjson__2.1_ntb_text.json", "newsinjson__3.0_ntb_text.json"):
        story = _story(name)
        assert story.headline == "Google har kjøpt giganttomt i Skien"
        assert story.version == "6"
        assert story.urgency == 5
        assert story.slugline == "skien-google"
        assert story.language == "nb-NO"
        assert story.agency == "NTB"
        assert len(story.body_paragraphs) == 1 and "Skien" in story.body_paragraphs[0]
        assert story.published_at == _millis(2019, 8, 9, 9, 46, 53)


def test_ninjs_3x_with_embedded_nitf_body():
    story = _story(
        "newsinjson__3.0_20231008-anti-doping-measures-at-the-tour-down-under-will-be-the-toughest-ever"
        "-addb-ninjs-nitf.json")
    assert story.headline == "Anti-doping measures at the 'Tour Down Under' will be the toughest ever"
    assert story.version == "2"
    assert story.standfirst and story.standfirst.startswith("The Australian Sports Anti-Doping Authority")
    assert len(story.body_paragraphs) > 10
    assert not any("<" in p for p in story.body_paragraphs)
    assert story.published_at == _millis(2023, 10, 8, 0, 34, 3)  # +02:00 converted to UTC


def test_ninjs_superdesk_picture_association_caption():
    story = _story("superdesk-core__ninjs_embargoed.json")
    assert story.headline == "Trouble is brewing for the future of beer"
    assert story.version == "11"
    assert story.agency == "360info"
    assert story.captions[0].credit == "Photograph by Pea, available at https://bit.ly/3Najj58"


def test_ninjs_event_timeline_gives_one_failure_per_item():
    _, results = parse_bytes(_sample("newsinjson__3.0_20231016-event-timeline-sample.json"))
    assert len(results) == 14
    assert all(isinstance(r, ItemFailure) and r.reason == DeadLetterReason.NOT_A_STORY for r in results)
    assert [r.item_index for r in results] == list(range(14))


def test_newsml_g2_reuters_text_item():
    story = _story("superdesk-core__tag_reuters.com_2014_newsml_KBN0FL0ZP_version_2.xml")
    assert story.headline == "Syria's Assad says foreign states will pay for supporting 'terrorism'"
    assert story.version == "2"
    assert story.slugline == "US-SYRIA-CRISIS-ASSAD-SPEECH"
    assert story.urgency == 4
    assert story.agency == "Reuters"
    assert story.language == "en-US"
    assert story.dateline is None  # Reuters puts a time stamp in <dateline>
    assert story.published_at == _millis(2014, 7, 16, 13, 0, 3)
    assert story.body_paragraphs[0].startswith("BEIRUT (Reuters) -")
    assert story.body_paragraphs[-1] == "(Reporting by Tom Perry, editing by John Stonestreet)"


def test_newsml_g2_update_marker_and_version():
    story = _story("superdesk-core__tag_reuters.com,2018_newsml_MTZXEE13ZXCZES_2.xml")
    assert story.headline == "UPDATE 2-Primeira Liga Results"
    assert story.slugline == "SOCCER-PORTUGAL/RESULTS (UPDATE 2)"
    assert story.version == "2"


def test_newsml_g2_message_with_three_nitf_items():
    _, results = parse_bytes(_sample("superdesk-core__ap.xml"))
    assert [type(r) for r in results] == [ParsedItem] * 3
    assert [r.item_index for r in results] == [0, 1, 2]
    first = results[0]
    assert first.headline == "Nutrisystem beats 4Q earnings and revenue expectations"
    assert first.slugline == "BC-US--Earns-Nutrisystem, 1st Ld-Writethru"
    assert first.version == "2"
    assert first.body_paragraphs[0].startswith("FORT WASHINGTON, Pa. (AP) _")
    assert results[2].version == "1"


def test_newsml_g2_dpa_header_skipped_and_dateline_taken_apart():
    story = _story("superdesk-core__dpa.xml")
    assert story.headline == "Eintracht in London: Hintereggers Tränen und Attacke auf Reporter"
    assert story.dateline == "London (dpa)"
    assert story.body_paragraphs[0].startswith("2019 gab es")  # no keyword list, no repeated dateline
    assert story.language == "de"
    assert story.agency == "Deutsche Presse-Agentur GmbH"


def test_newsml_g2_package_and_stub_items_fail_individually():
    _, results = parse_bytes(_sample("newsml-g2__LISTING_24_News_Message_conveying_a_complete_News_Package.xml"))
    assert [r.reason for r in results] == [DeadLetterReason.NOT_A_STORY] + [DeadLetterReason.MISSING_BODY] * 4


def test_newsml_1x_afp_and_kyodo():
    afp = _story("superdesk-core__afp.xml")
    assert afp.headline == "Sweden court accepts receivership for Saab carmaker"
    assert afp.dateline == "STOCKHOLM, Aug 29, 2014 (AFP)"
    assert afp.slugline == "Sweden-SAAB"
    assert afp.urgency == 4
    assert afp.agency == "AFP"
    assert afp.version == "1"
    assert afp.published_at == _millis(2014, 8, 29, 13, 49, 51)
    assert len(afp.body_paragraphs) == 10
    kyodo = _story("superdesk-belga__kyodo_newsml_1_2_belga.xml")  # DOCTYPE with parameter entities
    assert kyodo.headline == "Ex-Chinese Premier Li Peng dies aged 90: Xinhua"
    assert kyodo.dateline == "BEIJING, July 23"
    assert kyodo.credit_line == "Kyodo"


def test_newsml_1x_html_in_cdata_and_businesswire_nesting():
    ana = _story("superdesk-core__ana1.xml")
    assert not any("<P>" in p for p in ana.body_paragraphs)
    assert ana.credit_line == "ΑΠΕ-ΜΠΕ"
    businesswire = _story("newsinjson__NewsML_businesswire-newsml-20130515006361.xml")
    assert businesswire.dateline == "ROUND ROCK, Texas"
    assert businesswire.slugline == "TX-DELL"
    assert len(businesswire.captions) == 2  # the two Photo components; the Logo is not a caption


def test_nitf_ap_and_pa():
    ap = _story("superdesk-core__ap-nitf.xml")
    assert ap.headline == "Can trading pollution like stocks help fight climate change?"
    assert ap.bylines == ("By BERNARD CONDON, AP Business Writer",)
    assert ap.agency == "AP"
    assert ap.published_at == _millis(2015, 12, 10, 19, 10, 44)
    assert ap.body_paragraphs[0].startswith("NEW YORK (AP) —")
    pa = _story("superdesk-core__pa5.xml")  # declared iso-8859-1
    assert pa.headline == "HARD BREXIT TO COST UK UP TO £66BN A YEAR, SAYS TREASURY"
    assert pa.slugline == "PA-HHH-POLITICS-Brexit"
    assert pa.urgency == 4
    assert pa.published_at == _millis(2016, 10, 10, 23, 13, 27)  # +0100


def test_nitf_utf8_declared_as_latin1():
    story = _story("superdesk-core__mapping_test.xml")
    assert "41-årig" in story.headline  # not mojibake
    assert story.slugline == "NU-FLASH-K"
    assert story.version == "04"
    assert story.agency == "Ritzau"


def test_iptc7901_dpa_messages():
    story = _story("superdesk-core__IPTC7901_odd_charset.txt")
    assert story.headline == "German football saddened by illness to striker legend Mueller"
    assert story.bylines == ("By Manuel Schwarz, dpa",)
    assert story.version == "1ST LEAD"
    assert story.slugline == "Germany-football/Munich/Mueller"
    assert story.urgency == 3
    assert story.agency == "dpa"
    assert story.published_at == _millis(2015, 10, 7, 13, 41, 0)
    assert story.body_paragraphs[0].startswith("Munich (dpa) -")
    stripped = _story("superdesk-belga__dpa.txt")  # control characters already removed
    assert stripped.version == "2ND LEAD"
    assert stripped.published_at == _millis(2018, 12, 10, 11, 37, 0)
    assert not any("Editorial contacts" in p or "Reporting by" in p for p in stripped.body_paragraphs)


def test_anpa_ap_writethru_and_alert():
    story = _story("superdesk-core__ap_anpa-1.tst")
    assert story.headline == "Deng has 30 points, short-handed Heat beat Hawks 115-111"
    assert story.bylines == ("By CHARLES ODUM, AP Sports Writer",)
    assert story.slugline == "BC-BKN--Heat-Hawks"
    assert story.version == "1st Ld-Writethru"
    assert story.urgency == 5
    assert story.agency == "AP"
    assert story.published_at == _millis(2016, 2, 20, 3, 37, 0)
    assert story.body_paragraphs[0].startswith("ATLANTA (AP) _")
    alert = _story("superdesk-core__ap_anpa-5.tst")
    assert alert.slugline == "BC-US--APNewsAlert"
    assert alert.urgency == 2
    assert alert.headline.startswith("Hawaii files court challenge")
    assert alert.body_paragraphs[0].startswith("HONOLULU (AP) _")


def test_ap_media_api_items():
    text = _story("superdesk-cp__ap-text.json")
    assert text.headline == "Review: Documentary about electric racing holds little spark"
    assert text.bylines == ("By MARK KENNEDY, AP Entertainment Writer",)
    assert text.version == "3"
    assert text.item_id == "f14dd246c9b5efeb56de0141aa50c4fd"
    assert len(text.body_paragraphs) == 16
    brief = _story("superdesk-cp__ap-subject.json")  # no attached text: the summary is the brief
    assert brief.slugline == "BC-AF-MED-Congo-WHO-Sex-Abuse, 3rd Ld-Writethru"
    assert brief.dateline == "BENI, Congo"
    assert len(brief.body_paragraphs) == 1


def test_aap_text_variants():
    afl = _story("superdesk-aap__AFL_FormGuide__636241349261119029.tst")
    assert afl.headline == "AFL: AFL Round 23 preview panel"
    assert afl.slugline == "AFL Preview"
    assert afl.agency == "AAP"
    assert afl.body_paragraphs[0].startswith("MELBOURNE, March 3 AAP -")
    release = _story("superdesk-aap__asianet_8.tst")
    assert release.item_id == "PR67275"
    assert release.credit_line == "Source: Huntsman Family Investments"
    bom = _story("superdesk-aap__IDN38100.tst")
    assert bom.item_id == "IDN38100"
    assert bom.agency == "Australian Government Bureau of Meteorology"
    assert bom.headline == "Cancellation of Road Weather Alert for Sydney"
