"""Issue 17's record-contract items: a canonical language beside the declared
one, a derived headline for stories sent without one, editorial markers off
the headline (and the UPDATE number dedup reads), a byline after an
"(Adds ...)" advisory, the dateline split into city, region and raw text, and
the photo's alt text kept on its caption.

Pure functions are tested directly; the records go through ``enrich_item``
(what the pipeline's DoFn calls) and are written to a real Avro file with the
story schema and read back.
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import re
from pathlib import Path

import fastavro
import pytest

from schemas import load_schema
from tests.conftest import corpus_path
from transforms.dedup.core import DedupConfig, SequentialDeduplicator
from transforms.enrich import enrich_item
from transforms.formats.plain_text import parse_text
from transforms.language.detect import LanguageDetector
from transforms.language.codes import UNDETERMINED, canonical_language
from transforms.model import DeadLetterReason, ParsedInput, ParsedItem, ParseError, SourcePosition
from transforms.normalize import normalize_item, parse_dateline, parse_dateline_field
from transforms.normalize.headline import MAX_DERIVED_CHARS, derive_headline, split_markers

HISTORY = Path(__file__).resolve().parents[1] / "schemas" / "history"
SEED = Path(__file__).resolve().parents[1] / "seeds" / "000_47ad94e21230f2f9.txt"


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    detector = LanguageDetector(seed=0)
    detector.load()
    return detector


def _enrich(item: ParsedItem, detector: LanguageDetector, uri: str = "/in/story.txt"):
    parsed = ParsedInput(item=item, source=SourcePosition(kind="file", uri=uri), raw=b"raw")
    story, _ = enrich_item(parsed, detector, ingested_at=1_700_000_000_000)
    return story


def _avro_round_trip(records: list[dict]) -> list[dict]:
    schema = fastavro.parse_schema(load_schema("story"))
    buffer = io.BytesIO()
    fastavro.writer(buffer, schema, records)
    buffer.seek(0)
    return list(fastavro.reader(buffer))


# -- 1. canonical language ---------------------------------------------------


@pytest.mark.parametrize(
    "tag, code",
    [("FR", "fr"), ("fr-FR", "fr"), ("en-US", "en"), ("fi-FI", "fi"), ("nl-nl", "nl"), ("swe", "sv"),
     ("ger", "de"), ("deu", "de"), ("pt_BR", "pt"), ("zh-cn", "zh"), ("zh-TW", "zh"), ("iw", "he"),
     (" de ", "de"), ("nb-NO", "nb"), ("haw", UNDETERMINED), ("und", UNDETERMINED),
     ("xx", UNDETERMINED), ("English", UNDETERMINED), ("", UNDETERMINED), (None, UNDETERMINED)],
)
def test_canonical_language(tag, code):
    assert canonical_language(tag) == code


def test_declared_languages_of_the_real_samples_canonicalise_to_the_manifest_labels():
    """Each real format sample's items, declared language canonicalised, give the
    MANIFEST's ``declared_language`` label(s): whatever spelling the agency used."""
    from transforms.formats import parse_bytes

    root = corpus_path("wire_formats")
    with open(root / "MANIFEST.tsv", encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        path_at, language_at = header.index("local_path"), header.index("declared_language")
        labelled = [(row[path_at], set(row[language_at].split("|")))
                    for row in (line.rstrip("\n").split("\t") for line in handle) if row[language_at]]
    spellings: set[str] = set()
    compared = 0
    for local_path, labels in labelled:
        path = root.parent / local_path
        try:
            _, results = parse_bytes(path.read_bytes(), filename=path.name)
        except ParseError:
            continue
        declared = [item.language for item in results if isinstance(item, ParsedItem) and item.language]
        if not declared:
            continue
        spellings.update(declared)
        assert {canonical_language(tag) for tag in declared} <= labels, (local_path, declared, labels)
        compared += 1
    assert compared >= 20
    assert any(tag != canonical_language(tag) for tag in spellings), spellings  # some were not canonical


def test_story_keeps_the_declared_tag_beside_the_canonical_code(detector):
    item = ParsedItem(format="ninjs", headline="Hallituksen esitys", language="fi-FI",
                      body_paragraphs=("Hallitus antoi esityksen eduskunnalle tiistaina.",))
    [record] = _avro_round_trip([_enrich(item, detector).to_avro()])
    assert (record["language"], record["language_declared"], record["language_confidence"]) == ("fi", "fi-FI", 1.0)


def test_detected_language_is_canonical_and_declared_is_null(detector):
    item = ParsedItem(format="plain_text", headline="在美国拥有两千平方米的豪宅",
                      body_paragraphs=("他在美国拥有一座两千平方米的豪宅，并计划明年出售。",))
    story = _enrich(item, detector)
    assert story.language == "zh" and story.language_declared is None


# -- 2. derived headline -----------------------------------------------------


def test_headline_derived_from_slugline_then_first_sentence():
    assert derive_headline("BC-BAHIA-COCOA-REVIEW", ("Showers continued.",)) == "BC-BAHIA-COCOA-REVIEW"
    assert derive_headline(None, ("", "Showers continued in Bahia. Farmers were glad.")) == (
        "Showers continued in Bahia.")
    assert derive_headline("0123", ("The U.S. Senate voted. Then it left.",)) == "The U.S. Senate voted."
    assert derive_headline(None, ()) == ""


def test_a_long_first_sentence_is_cut_at_a_word():
    words = " ".join(["word"] * 60) + "."
    headline = derive_headline(None, (words,))
    assert len(headline) <= MAX_DERIVED_CHARS and headline.endswith("word") and words.startswith(headline)


def test_story_with_body_and_no_headline_is_a_story(detector):
    item = ParsedItem(format="newsml_g2", headline="  ", slugline=None,
                      body_paragraphs=("HELSINKI (STT) - Parliament met on Tuesday. It voted.", "More text."))
    story = _enrich(item, detector)
    [record] = _avro_round_trip([story.to_avro()])
    assert record["headline"] == "Parliament met on Tuesday." and record["headline_derived"] is True
    assert record["dateline"]["city"] == "Helsinki"


def test_story_with_a_headline_is_not_flagged(detector):
    item = ParsedItem(format="plain_text", headline="Parliament meets", body_paragraphs=("It met.",))
    assert _enrich(item, detector).headline_derived is False


def test_story_with_neither_headline_nor_body_still_dead_letters(detector):
    item = ParsedItem(format="newsml_g2", headline="", slugline="SLUG-ONLY", body_paragraphs=("  ",))
    with pytest.raises(ParseError) as raised:
        _enrich(item, detector)
    assert raised.value.reason == DeadLetterReason.MISSING_HEADLINE


# -- 3. editorial markers ----------------------------------------------------


@pytest.mark.parametrize(
    "headline, rest, markers, number",
    [
        ("REFILE-Oil rises on supply fears", "Oil rises on supply fears", ("REFILE",), None),
        ("CORRECTED-Oil rises", "Oil rises", ("CORRECTED",), None),
        ("CORRECTED - FEDERAL PAPER RAISES PAYOUT", "FEDERAL PAPER RAISES PAYOUT", ("CORRECTED",), None),
        ("UPDATE 1-GRAIN SHIPPERS WARN OF DELAYS", "GRAIN SHIPPERS WARN OF DELAYS", ("UPDATE 1",), 1),
        ("REFILE-UPDATE 2-Paper mill to close", "Paper mill to close", ("REFILE", "UPDATE 2"), 2),
        ("RPT-ACME INC NET", "ACME INC NET", ("RPT",), None),
        ("WRAPUP 3-Storm hits coast", "Storm hits coast", ("WRAPUP 3",), None),
        ("ECONOMIC SPOTLIGHT - JAPAN BUYING", "JAPAN BUYING", ("ECONOMIC SPOTLIGHT",), None),
        ("RACING : Winx wins again", "Winx wins again", ("RACING",), None),
        ("TROTS : Results from the Gold Coast", "Results from the Gold Coast", ("TROTS",), None),
    ],
)
def test_markers_come_off_the_headline(headline, rest, markers, number):
    assert split_markers(headline) == (rest, markers, number)


@pytest.mark.parametrize(
    "headline",
    ["COCA-COLA RAISES DIVIDEND", "BORG-WARNER SEES GROWTH", "Exclusive: lawyer's family flees",
     "Update: talks resume", "UPDATE 1", "CORRECTED -", "CRICKET: First Test, day one",
     "Analysis - DSA rules", "FLASH FLOODS HIT TOWN", "UPDATE 1 - "],
)
def test_headlines_without_markers_stay_whole(headline):
    assert split_markers(headline) == (headline, (), None)


def test_reuters_corrected_titles_lose_the_marker():
    """Real Reuters-21578 titles: CORRECTED and RPT come off, company names with hyphens stay."""
    found = {}
    kept_hyphen = 0
    for path in sorted(corpus_path("reuters21578").glob("reut2-00[0-4].sgm")):
        for title in re.findall(r"<TITLE>([^<]*)", path.read_text(encoding="latin-1")):
            title = html.unescape(title)
            rest, markers, _ = split_markers(title)
            for marker in markers:
                found[marker] = found.get(marker, 0) + 1
            assert not rest.startswith(("CORRECTED", "RPT-")), title
            if re.match(r"^[A-Z]+-[A-Z]", title) and not markers:
                kept_hyphen += 1
    assert found.get("CORRECTED", 0) >= 5 and set(found) <= {"CORRECTED", "RPT", "ECONOMIC SPOTLIGHT"}
    assert kept_hyphen > 20  # COCA-COLA, BORG-WARNER ... are headlines, not markers


def test_markers_and_update_number_reach_the_record_and_dedup(detector):
    body = ("CHICAGO, March 3 (Reuters) - Grain shippers on the Mississippi warned of delays on "
            "Tuesday as river levels fell for a third week, and barge rates rose.",)
    first = _enrich(ParsedItem(format="plain_text", headline="GRAIN SHIPPERS WARN OF DELAYS",
                               body_paragraphs=body, language="en"), detector, "/in/a.txt")
    update = _enrich(ParsedItem(format="plain_text", headline="UPDATE 2-GRAIN SHIPPERS WARN OF DELAYS",
                                body_paragraphs=body, language="en"), detector, "/in/b.txt")
    assert update.headline == first.headline
    [record] = _avro_round_trip([update.to_avro()])
    assert record["editorial_markers"] == ["UPDATE 2"] and record["update_number"] == 2
    deduplicator = SequentialDeduplicator(DedupConfig())
    first = dataclasses.replace(first, event_time=1)
    update = dataclasses.replace(update, event_time=2)
    assert [deduplicator.add(story).status for story in (first, update)] == ["UNIQUE", "UPDATE"]


# -- 4. byline after an advisory ---------------------------------------------


def test_byline_after_an_adds_advisory_is_found():
    item = ParsedItem(format="nitf", headline="Oil rises", body_paragraphs=(
        "(Adds analyst quote in paragraph 4)", "By Jane Smith",
        "LONDON, March 3 (Reuters) - Oil rose on Tuesday.", "Brent gained."))
    normalized = normalize_item(item)
    assert [c.name for c in normalized.bylines] == ["Jane Smith"]
    assert normalized.dateline.city == "London"
    assert normalized.body_paragraphs == (
        "(Adds analyst quote in paragraph 4)", "Oil rose on Tuesday.", "Brent gained.")


def test_advisory_and_byline_in_one_paragraph_are_split():
    item = ParsedItem(format="plain_text", headline="Oil rises", body_paragraphs=(
        "(Updates prices, adds comment) By Jane Smith and Ali Khan", "Oil rose on Tuesday."))
    normalized = normalize_item(item)
    assert [c.name for c in normalized.bylines] == ["Jane Smith", "Ali Khan"]
    assert normalized.body_paragraphs == ("(Updates prices, adds comment)", "Oil rose on Tuesday.")


def test_a_by_sentence_after_an_advisory_stays_in_the_body():
    long_sentence = "By the end of the day " + "prices had risen sharply " * 8 + "in London."
    item = ParsedItem(format="plain_text", headline="Oil rises",
                      body_paragraphs=("(Adds details)", long_sentence))
    normalized = normalize_item(item)
    assert normalized.bylines == () and normalized.body_paragraphs[1] == long_sentence


# -- 5. dateline split -------------------------------------------------------


@pytest.mark.parametrize(
    "text, place, city, region, date, raw",
    [
        ("KYIV, Ukraine", "Kyiv, Ukraine", "Kyiv", "Ukraine", None, "KYIV, Ukraine"),
        ("ST. PETERSBURG, Russia", "St. Petersburg, Russia", "St. Petersburg", "Russia", None,
         "ST. PETERSBURG, Russia"),
        ("CHEYENNE, Wyo.", "Cheyenne, Wyo.", "Cheyenne", "Wyo.", None, "CHEYENNE, Wyo."),
        ("Tegucigalpa, Jan 2 (EFE)", "Tegucigalpa", "Tegucigalpa", None, "Jan 2", "Tegucigalpa, Jan 2 (EFE)"),
        ("Strasbourg, 10 Juil 2024", "Strasbourg", "Strasbourg", None, "10 Juil 2024", "Strasbourg, 10 Juil 2024"),
        ("2.4.2019 16:02:09 Cest", None, None, None, "2.4.2019 16:02:09 Cest", "2.4.2019 16:02:09 Cest"),
    ],
)
def test_dateline_field_is_split(text, place, city, region, date, raw):
    dateline = parse_dateline_field(text)
    assert (dateline.place, dateline.city, dateline.region, dateline.date, dateline.raw) == (
        place, city, region, date, raw)


def test_ap_underscore_dash_takes_the_dateline_out_of_the_body():
    dateline, rest = parse_dateline("CHATHAM, Mass. (AP) _ A lobster died.")
    assert (dateline.city, dateline.region, dateline.agency, dateline.raw) == (
        "Chatham", "Mass.", "Associated Press", "CHATHAM, Mass. (AP)")
    assert rest == "A lobster died."
    item = ParsedItem(format="anpa1312", headline="Lobster dies",
                      body_paragraphs=("   CHATHAM, Mass. (AP) _ A lobster died.", "It was old."))
    assert normalize_item(item).body_paragraphs == ("A lobster died.", "It was old.")


def test_ap_underscore_in_the_real_anpa_samples():
    """Every AP ANPA sample of the corpus whose lead has '(AP) _' loses its dateline from the body."""
    from transforms.formats import parse_bytes

    checked = 0
    for path in sorted(corpus_path("wire_formats", "anpa1312").glob("*.tst")):
        try:
            _, results = parse_bytes(path.read_bytes(), filename=path.name)
        except ParseError:
            continue
        for item in results:
            if isinstance(item, ParsedItem) and item.body_paragraphs and "(AP) _" in item.body_paragraphs[0][:80]:
                normalized = normalize_item(item)
                assert normalized.dateline is not None and normalized.dateline.agency == "Associated Press"
                assert "(AP) _" not in normalized.body_paragraphs[0], path.name
                checked += 1
    assert checked >= 3


def test_dateline_record_round_trips_with_its_new_fields(detector):
    item = ParsedItem(format="plain_text", headline="Sirens",
                      body_paragraphs=("KYIV, Ukraine (AP) — Sirens sounded.",))
    [record] = _avro_round_trip([_enrich(item, detector).to_avro()])
    assert record["dateline"] == {"place": "Kyiv, Ukraine", "date": None, "agency": "Associated Press",
                                  "city": "Kyiv", "region": "Ukraine", "raw": "KYIV, Ukraine (AP)"}


# -- 6. caption alt text -----------------------------------------------------


def test_seed_photo_alt_text_is_kept_on_its_caption(detector):
    item = parse_text(SEED.read_text(encoding="utf-8"))
    story = _enrich(item, detector)
    [record] = _avro_round_trip([story.to_avro()])
    photo = record["captions"][0]
    assert photo["alt_text"] == "Russian President Vladimir Putin attends a joint news conference"
    assert photo["credit_raw"] == "[File: Sputnik/Sergey Guneev/Kremlin via Reuters]"
    assert "attends a joint news conference" not in record["body"]
    assert all(caption["alt_text"] is None for caption in record["captions"][1:])


# -- the contract ------------------------------------------------------------


def test_a_v1_record_reads_with_the_new_fields_at_their_defaults():
    old = json.loads((HISTORY / "story.v1.avsc").read_text(encoding="utf-8"))
    from tests.test_schema_compat import _sample

    record = _sample(old, {})
    buffer = io.BytesIO()
    fastavro.writer(buffer, fastavro.parse_schema(old), [record])
    buffer.seek(0)
    [read] = list(fastavro.reader(buffer, reader_schema=fastavro.parse_schema(load_schema("story"))))
    assert (read["language_declared"], read["headline_derived"], read["editorial_markers"],
            read["update_number"]) == (None, False, [], None)
    assert (read["dateline"]["city"], read["dateline"]["region"], read["dateline"]["raw"]) == (None, None, None)
    assert read["captions"][0]["alt_text"] is None


def test_a_restart_reads_the_markers_back_for_dedup(detector, tmp_path):
    """Stories re-read from the output after a restart keep their UPDATE level."""
    from transforms.dedup import minhash
    from transforms.dedup.core import fingerprint
    from transforms.io.write import STORIES_PREFIX, load_written_stories

    body = ("CHICAGO, March 3 (Reuters) - Grain shippers on the Mississippi warned of delays on "
            "Tuesday as river levels fell for a third week, and barge rates rose.",)
    update = _enrich(ParsedItem(format="plain_text", headline="UPDATE 2-GRAIN SHIPPERS WARN OF DELAYS",
                                body_paragraphs=body, language="en"), detector)
    with open(tmp_path / f"{STORIES_PREFIX}-0.avro", "wb") as handle:
        fastavro.writer(handle, fastavro.parse_schema(load_schema("story")), [update.to_avro()])
    [again] = load_written_stories(str(tmp_path), max_age_seconds=3600)
    assert again.editorial_markers == ("UPDATE 2",)
    config = DedupConfig()
    hasher = minhash.MinHasher(config.num_perm, config.seed)
    assert fingerprint(again, config, hasher).level == fingerprint(update, config, hasher).level == 2
