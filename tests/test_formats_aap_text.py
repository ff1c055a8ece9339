"""AAP's text service: AsiaNet media releases and Pagemasters messages (issue 17).

Fixtures in tests/data/formats/aap_text/ are releases and results written for
these tests in the layout AAP delivers (CRLF, windows-1252, text wrapped at 80
columns, the wire's dateline paragraph); no agency text is copied. The real
samples in ../shared/corpora are only checked where they are present.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.formats import aap_text, parse_bytes
from transforms.formats.detect import detect_format
from transforms.model import DeadLetterReason, ItemFailure, ParsedItem, ParseError
from transforms.normalize.item import normalize_item

DATA = Path(__file__).parent / "data" / "formats" / "aap_text"
FIXTURES = sorted(DATA.iterdir())
SAMPLES = Path(__file__).parents[1].parent / "shared" / "corpora" / "wire_formats" / "aap_text"
ASIANET_SAMPLES = ("2", "3", "4", "7", "8", "10")


def _story(name: str) -> ParsedItem:
    data = (DATA / name).read_bytes()
    fmt, results = parse_bytes(data, filename=name)
    assert fmt == "aap_text"
    assert len(results) == 1 and isinstance(results[0], ParsedItem)
    return results[0]


def _sample(name: str) -> ParsedItem:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"sample {name} not found in {SAMPLES}")
    _, results = parse_bytes(path.read_bytes(), filename=name)
    assert len(results) == 1 and isinstance(results[0], ParsedItem)
    return results[0]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixtures_are_detected_by_content(path):
    assert detect_format(path.read_bytes(), filename="renamed.bin") == "aap_text"


# -- AsiaNet media releases --------------------------------------------------------


def test_release_header_gives_headline_slug_credit_and_release_number():
    story = _story("asianet_release.tst")
    assert story.headline == (
        "Harbour Light Instruments Opens Calibration Laboratory in Penang to Serve South-East Asian Clients"
    )
    assert story.slugline == "Harbour Light Instruments"  # the issuer, as Superdesk's slugline
    assert story.credit_line == "Source: Harbour Light Instruments"
    assert story.item_id == "PR70112"


def test_release_dateline_is_given_apart_and_the_text_starts_after_it():
    story = _story("asianet_release.tst")
    assert story.dateline == "PENANG, Malaysia, March 4, 2019 (PRNewswire-AsiaNet)"
    assert story.body_paragraphs[0].startswith("-- Laboratory adds pressure")
    assert not any("PRNewswire" in p for p in story.body_paragraphs)
    normalized = normalize_item(story)
    place, date, agency = normalized.dateline.place, normalized.dateline.date, normalized.dateline.agency
    assert (place, date, agency) == ("Penang, Malaysia", "March 4, 2019", "PRNewswire-AsiaNet")
    # The body is left alone when the dateline comes apart.
    assert normalized.body_paragraphs[0].startswith("-- Laboratory adds pressure")


def test_release_text_wrapped_at_80_columns_is_joined_into_paragraphs():
    story = _story("asianet_release.tst")
    assert story.body_paragraphs == (
        "-- Laboratory adds pressure and flow calibration to the company's regional services, "
        "with same-week turnaround for clients in five countries",
        "Harbour Light Instruments, a maker of industrial measuring equipment, today opened a calibration "
        "laboratory in Penang, its first outside Europe. The laboratory will check and certify pressure "
        "gauges, flow meters and temperature probes for manufacturers across the region.",
        "The company said the laboratory employs twelve technicians and will be accredited to the "
        "testing laboratory standard by June.",
        "Clients had waited up to six weeks for instruments sent to Europe.",
        "The laboratory is the first stage of a planned regional network.",
        "Key facts",
        "\u2022 Twelve technicians on site",
        "\u2022 Pressure, flow and temperature calibration",
        "\u2022 Accreditation expected by June 2019",
        "Photo - http://mma.example.com/media/100001/penang_laboratory.jpg",
        "Photo - http://mma.example.com/media/100002/calibration_bench.jpg",
        "Logo - http://mma.example.com/media/100003/harbour_light_logo.jpg",
        "About Harbour Light Instruments",
        "Harbour Light Instruments designs and builds measuring equipment for process industries, "
        "with offices in nine countries.",
    )  # the closing 'SOURCE:' line is the credit, not text


def test_release_with_a_wrapped_source_and_text_on_the_dateline_line():
    story = _story("asianet_wrapped_source.tst")
    assert story.slugline == "Northern Plains Cooperative Grain Growers Association of Saskatchewan"
    assert story.credit_line == "Source: Northern Plains Cooperative Grain Growers Association of Saskatchewan"
    assert story.item_id == "PR70113"
    assert story.dateline == "REGINA, Saskatchewan, March 5, 2019 (PRNewswire)"
    assert story.body_paragraphs == (
        "The cooperative shipped a record volume of canola to Asian buyers in the crop year, "
        "its board said on Tuesday.",
        "Members will vote on a new storage terminal at the annual meeting in April.",
    )


def test_release_without_a_wire_dateline_keeps_its_text_and_invents_no_dateline():
    story = _story("asianet_no_dateline.tst")
    assert story.dateline is None
    assert story.slugline == "Lakeside Robotics"
    assert story.body_paragraphs == (
        "The company named a new chief engineer on Monday, effective from next month.",
        "She joins from a maker of warehouse robots.",
    )
    assert normalize_item(story).dateline is None


def test_release_with_a_dateline_but_no_text_is_dead_lettered():
    data = (
        b"Source: Lakeside Robotics\r\nMEDIA RELEASE PR70115\r\nLakeside Robotics Moves Office\r\n\r\n"
        b"OSLO, May 2, 2019 /PRNewswire/ --\r\n\r\n"
    )
    assert detect_format(data) == "aap_text"
    with pytest.raises(ParseError) as caught:
        parse_bytes(data)
    assert caught.value.reason == DeadLetterReason.MISSING_BODY and "PR70115" in str(caught.value)


def test_release_paragraph_rules():
    lines = [
        "    First paragraph opens indented and runs on past the wrap column of the",
        "sender, so its second line joins it.",
        "    A second indented line opens a new paragraph, and a hanging indent",
        "       continues it.",
        "A line that starts at the margin after a short one opens another.",
        "\u2022 A bullet opens one too, and this one runs on for long enough that its next",
        "- a dash at the start of a wrapped line - is text.",
    ]
    assert aap_text._release_paragraphs(lines) == (
        "First paragraph opens indented and runs on past the wrap column of the sender, so its second line joins it.",
        "A second indented line opens a new paragraph, and a hanging indent continues it.",
        "A line that starts at the margin after a short one opens another.",
        "\u2022 A bullet opens one too, and this one runs on for long enough that its next "
        "- a dash at the start of a wrapped line - is text.",
    )


# -- Pagemasters messages ------------------------------------------------------------


def test_pagemasters_hash_is_the_slug_and_colon_the_headline():
    story = _story("pagemasters_tab_divs.tst")
    assert story.slugline == "Dubbo Trot"
    assert story.headline == "NSW TAB DIVS 1-3 Tuesday"
    assert story.body_paragraphs[0] == "DUBBO TROT"
    assert story.body_paragraphs[-1] == "AAP RESULTS"
    assert len(story.body_paragraphs) == 6


def test_pagemasters_caret_headline_still_wins_and_a_lone_hash_is_both():
    _, [story] = parse_bytes(b"ZCZC\n#Bourke Gallop\n:Fields Saturday\n^Bourke fields\nRace 1 text.\nNNNN\n")
    assert (story.slugline, story.headline) == ("Bourke Gallop", "Bourke fields")
    _, [story] = parse_bytes(b"ZCZC\n#Bourke Gallop\nRace 1 text.\nNNNN\n")
    assert (story.slugline, story.headline) == ("Bourke Gallop", "Bourke Gallop")


def test_colon_keyword_without_a_hash_is_still_the_slug():
    _, [story] = parse_bytes(b"ZCZC AAP\n:Surf-Rescue\n^Lifesavers busy\nSYDNEY, Jan 7 AAP - Text.\nNNNN\n")
    assert (story.slugline, story.headline) == ("Surf-Rescue", "Lifesavers busy")


# -- never a crash -----------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURES), st.floats(min_value=0.0, max_value=1.0), st.integers(0, 255))
def test_truncated_or_corrupted_fixtures_give_a_story_or_a_dead_letter(path, fraction, value):
    data = bytearray(path.read_bytes()[: max(1, int(path.stat().st_size * fraction))])
    data[int(len(data) * fraction) - 1] = value
    try:
        _, results = parse_bytes(bytes(data), hint="aap_text")
    except ParseError as error:
        assert error.reason
        return
    for result in results:
        assert isinstance(result, (ParsedItem, ItemFailure))
        if isinstance(result, ParsedItem):
            assert result.headline and result.body_paragraphs


# -- the real samples, where present -----------------------------------------------


@pytest.mark.parametrize("number", ASIANET_SAMPLES)
def test_real_asianet_releases_give_dateline_slug_and_body_apart(number):
    story = _sample(f"superdesk-aap__asianet_{number}.tst")
    assert story.slugline and story.credit_line == f"Source: {story.slugline}"
    assert story.dateline and story.dateline.endswith(")")
    dateline = normalize_item(story).dateline
    assert dateline is not None and dateline.place and dateline.date and dateline.agency
    assert not any("/PRNewswire" in p for p in story.body_paragraphs)
    # Joined wrapped lines: no paragraph ends mid-sentence on a short word.
    assert sum(len(p) for p in story.body_paragraphs) / len(story.body_paragraphs) > 40


@pytest.mark.parametrize(
    "name, slug, headline",
    [
        ("superdesk-aap__Wagga_Trot_VIC_TAB_DIVS_1-4_Friday.tst", "Wagga Trot", "VIC TAB DIVS 1-4 Friday"),
        ("superdesk-aap__Warragul_Greyhound_NSW_TAB_DIVS_1-11_Thursday.tst", "Warragul Greyhound",
         "NSW TAB DIVS 1-11 Thursday"),
    ],
)
def test_real_pagemasters_results(name, slug, headline):
    story = _sample(name)
    assert (story.slugline, story.headline) == (slug, headline)


def test_every_comparable_peer_expectation_on_aap_text_is_met(tmp_path):
    """Superdesk's assertions on the AAP samples (tests/data/peer_expectations.json): none missed."""
    import json
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    import peer_eval

    if not SAMPLES.is_dir():
        pytest.skip(f"corpora absent: {SAMPLES}")
    mine = [exp for exp in peer_eval.load_expectations() if exp["fixture"].startswith("aap_text/")]
    assert sum(exp["comparable"] for exp in mine) >= 37
    path = tmp_path / "aap_text_expectations.json"
    path.write_text(json.dumps({"expectations": mine}), encoding="utf-8")
    result = peer_eval.evaluate(str(SAMPLES.parent), str(path))
    misses = [peer_eval.format_row(row) for row in result["rows"] if row["status"] == "missed"]
    assert not misses, "\n".join(misses)


@pytest.mark.parametrize(
    "line, dateline",
    [
        ("LONDON, Feb. 1 /PRNewswire-AsiaNet / --", "LONDON, Feb. 1 (PRNewswire-AsiaNet)"),
        ("AUSTIN, Texas, Feb. 1, 2017 /PRNewswire-AsiaNet/ --", "AUSTIN, Texas, Feb. 1, 2017 (PRNewswire-AsiaNet)"),
        ("MUMBAI, India, July 25, 2018/PRNewswire-AsiaNet/", "MUMBAI, India, July 25, 2018 (PRNewswire-AsiaNet)"),
        ("Prices rose 5%, or $2/share/ on the day.", None),
        ("Visit http://example.com/releases/ for more, from May 3.", None),
    ],
)
def test_release_dateline_shapes(line, dateline):
    found, rest, _ = aap_text._release_dateline([line, "Text."])
    assert found == dateline
    assert rest == (["Text."] if dateline else [line, "Text."])
