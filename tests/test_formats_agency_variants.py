"""AAP, IPTC 7901 and ANPA copy as agencies really frame it (issue 17).

The fixtures in ``tests/data/formats/variants/`` are stories written for
these tests in the byte layout the agencies use (control bytes, header
lines, encodings); no agency text is copied.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms.formats import parse_bytes
from transforms.formats.detect import detect_format
from transforms.model import ParsedItem
from transforms.normalize.dateline import parse_dateline, parse_dateline_field
from transforms.normalize.item import normalize_item

VARIANTS = Path(__file__).parent / "data" / "formats" / "variants"


def _story(name: str) -> tuple[str, ParsedItem]:
    data = (VARIANTS / name).read_bytes()
    fmt, results = parse_bytes(data, filename=name)
    assert len(results) == 1 and isinstance(results[0], ParsedItem)
    return fmt, results[0]


# -- AAP ZCZC service copy --------------------------------------------------------


def test_aap_slug_take_service_and_routing_lines_are_header():
    fmt, story = _story("aap_service_slug_take.tst")
    assert fmt == "aap_text"
    assert story.headline == "Tram fares to rise by ten cents in July"
    assert story.slugline == "Tramfare" and story.version == "BC1"
    assert story.body_paragraphs[0].startswith("MELBOURNE, June 2 AAP - Tram fares")
    assert len(story.body_paragraphs) == 2
    text = " ".join(story.body_paragraphs)
    for header in ("Tramfare_BC1", "AM Service", "AAPIS", "02000000", "(MELBOURNE)"):
        assert header not in text


def test_aap_service_copy_without_caret_headline_takes_the_first_text_line():
    _, story = _story("aap_service_no_caret.tst")
    assert story.headline == "Ferry wharf reopens after repairs"
    assert story.slugline == "Ferrywharf" and story.version == "BC2"
    assert story.body_paragraphs[0].startswith("SYDNEY, June 3 AAP - The ferry wharf")
    assert not any("PM Service" in p or "AAPIS" in p for p in story.body_paragraphs)


def test_aap_routing_line_is_not_a_keyword_but_a_keyword_with_a_dollar_is():
    routed = b"ZCZC\n:(SYDNEY) &AAPIS *04000000 @NSW\n^Head\nSYDNEY, May 1 AAP - Text.\n"
    _, [story] = parse_bytes(routed)
    assert story.slugline is None and story.headline == "Head"
    keyword = b"ZCZC\n:Profit up $2m\n^Head\nSYDNEY, May 1 AAP - Text.\n"
    _, [story] = parse_bytes(keyword)
    assert story.slugline == "Profit up $2m"


def test_news_bites_zczc_is_aap_copy():
    data = (VARIANTS / "aap_news_bites.txt").read_bytes()
    assert detect_format(data) == "aap_text"
    _, story = _story("aap_news_bites.txt")
    assert story.headline == "XYZ Ltd shares climb 4% on heavy volume"
    assert story.standfirst == "Shares in the miner rose for a third day."
    assert story.bylines == ("News Bites Finance",)
    assert story.slugline == "XYZ Ltd shares"
    assert story.item_id == "NB20240611-0042"
    assert story.published_at == 1718078400000  # 14:00 in Sydney (AEST) is 04:00 UTC
    assert story.body_paragraphs == (
        "Shares in XYZ Ltd rose 4 per cent to $1.25 on Tuesday, the third rise in a row.",
        "Volume was twice the 30-day average, with 2.1 million shares traded \u2013 the most since March.",
    )


# -- IPTC 7901 as a Swiss and a Japanese agency send it ---------------------------


def test_swiss_iptc7901_latin1_cr_cr_lf_with_country_and_category_lines():
    data = (VARIANTS / "iptc7901_swiss_latin1.txt").read_bytes()
    assert detect_format(data) == "iptc7901"
    fmt, story = _story("iptc7901_swiss_latin1.txt")
    assert fmt == "iptc7901"
    assert story.headline == "Le Parlement européen adopte le règlement sur les déchets"
    assert story.slugline == "France/Politique"
    assert story.item_id == "bsf025" and story.urgency == 3
    assert story.agency is None  # 'etf 967' is a keyword and number, not an agency
    assert story.dateline == "Strasbourg, 10 juil 2024 (ATS)"
    assert story.body_paragraphs[0].startswith("Le Parlement européen a adopté mercredi")
    assert len(story.body_paragraphs) == 2


def test_swiss_dateline_gives_the_place():
    _, story = _story("iptc7901_swiss_latin1.txt")
    dateline = normalize_item(story).dateline
    assert (dateline.place, dateline.date) == ("Strasbourg", "10 juil 2024")


def test_japanese_service_header_after_syn_syn_soh_with_stx_on_the_header_line():
    data = (VARIANTS / "iptc7901_japan_syn_soh.tst").read_bytes()
    assert detect_format(data) == "iptc7901"
    _, story = _story("iptc7901_japan_syn_soh.tst")
    assert story.headline == "Tokyo stocks end higher on exporter buying"
    assert story.slugline == "Japan/Economy"
    assert story.item_id == "kyo017" and story.urgency == 2
    assert story.body_paragraphs[0].startswith("TOKYO, July 11 Kyodo - Tokyo stocks")
    assert story.published_at == 1720710720000  # 11 July 2024 15:12 GMT


def test_one_line_heading_without_equals_stays_the_headline():
    message = b"\x01abc001 3 i 20\r\n\x02Short headline\r\n\r\nThe text of it.\r\n\x03\x04"
    _, [story] = parse_bytes(message)
    assert story.headline == "Short headline" and story.slugline is None


@pytest.mark.parametrize("text, place, date", [
    ("Strasbourg, 10 Juil 2024", "Strasbourg", "10 Juil 2024"),
    ("Genève, 3 févr. 2024 (ATS)", "Genève", "3 févr. 2024"),
    ("Lausanne, 1er mai 2024 (ATS)", "Lausanne", "1er mai 2024"),
    ("Paris, 15 août (AFP) -", "Paris", "15 août"),
])
def test_french_month_datelines_as_a_field(text, place, date):
    dateline = parse_dateline_field(text)
    assert (dateline.place, dateline.date) == (place, date)


def test_french_month_dateline_leading_the_text():
    dateline, rest = parse_dateline("Strasbourg, 10 Juil 2024 (ATS) - Le Parlement a voté.")
    assert (dateline.place, dateline.date) == ("Strasbourg", "10 Juil 2024")
    assert rest == "Le Parlement a voté."
