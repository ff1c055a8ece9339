"""Properties of every parser on damaged input, and encodings as declared or detected."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.formats import parse_bytes
from transforms.model import ItemFailure, ParsedItem, ParseError

DATA = Path(__file__).parent / "data" / "formats"
FIXTURES = sorted(p for p in DATA.iterdir() if p.is_file())
CONTROLS = {chr(c) for c in range(32) if c not in (9, 10, 13)} | {"\x7f"}


def _check(data: bytes) -> None:
    """Parsing either raises ParseError or returns well-formed results."""
    try:
        fmt, results = parse_bytes(data)
    except ParseError as error:
        assert error.reason and str(error)
        return
    assert results
    for index, result in enumerate(results):
        assert isinstance(result, (ParsedItem, ItemFailure))
        if isinstance(result, ParsedItem):
            assert result.format == fmt
            assert result.body_paragraphs and result.headline == result.headline.strip()
            if fmt != "plain_text":  # the plain-text parser keeps what it is given
                for text in (result.headline, *result.body_paragraphs):
                    assert not CONTROLS & set(text), (fmt, text[:60])
        else:
            assert result.reason and result.error and result.raw is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURES), st.floats(min_value=0.0, max_value=1.0))
def test_truncated_fixtures_never_crash(path, fraction):
    data = path.read_bytes()
    _check(data[: int(len(data) * fraction)])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURES), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_fixtures_never_crash(path, flips):
    data = bytearray(path.read_bytes())
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    _check(bytes(data))


def test_windows_1252_declared_in_xml():
    document = (
        '<?xml version="1.0" encoding="windows-1252"?><nitf><body><body.head><hedline>'
        "<hl1>Minister: \u201cno new taxes\u201d</hl1></hedline></body.head><body.content>"
        "<p>Prices rose 3% \u2013 the most since 2008.</p></body.content></body></nitf>"
    ).encode("cp1252")
    assert b"\x93" in document and b"\x96" in document
    _, [story] = parse_bytes(document)
    assert story.headline == "Minister: \u201cno new taxes\u201d"
    assert story.body_paragraphs == ("Prices rose 3% \u2013 the most since 2008.",)


def test_undeclared_windows_1252_in_anpa_is_detected():
    data = (DATA / "anpa_story.tst").read_bytes().replace(
        b"A sheriff's helicopter", b"A sheriff\x92s helicopter")
    _, [story] = parse_bytes(data)
    assert story.body_paragraphs[1].startswith("A sheriff\u2019s helicopter")


def test_latin1_iptc7901_is_detected():
    _, [story] = parse_bytes((DATA / "iptc7901_story.txt").read_bytes())
    assert story.bylines == ("By Ute M\u00fcller, dpa",)


def test_utf8_bom_json():
    data = b"\xef\xbb\xbf" + (DATA / "ninjs_2x_text.json").read_bytes()
    fmt, [story] = parse_bytes(data)
    assert fmt == "ninjs" and story.headline.startswith("Sp\u00e4tfrost")


def test_a_frame_with_no_story_is_a_parse_error_not_an_empty_result():
    # A truncated AAP ZCZC frame: the service header and nothing after it.
    with pytest.raises(ParseError) as caught:
        parse_bytes(b"   ZCZC ")
    assert caught.value.format == "aap_text" and "no story" in str(caught.value)
