"""Stories sent with a body but no headline, end to end through parse and enrich (issue 17).

iptc7901, ap_media_api_json and reuters_sgml pass such an item on with
headline ``""`` and enrichment derives one (the slugline, else the first
sentence) flagged ``headline_derived``; aap_text's own mapping already takes
the first text line as the headline. A story with neither headline nor body
stays a dead letter, ``missing_body``. The fixtures are written here, short
and made up.
"""

from __future__ import annotations

import json

import pytest

from transforms.enrich import enrich_item
from transforms.formats import parse_bytes
from transforms.language.detect import LanguageDetector
from transforms.model import DeadLetterReason, ParsedInput, ParsedItem, ParseError, SourcePosition, Story

IPTC7901_NO_HEADLINE = (
    b"\x01eca0311 2 i 142  dpa 0412\r\n\r\n"
    b"Harbour-ferry/\r\n"
    b"\x022ND LEAD\r\n"
    b"By Ada Brenner, dpa =\r\n\r\n"
    b"Kiel (dpa) - The harbour ferry ran again on Tuesday after a week of repairs.\r\n"
    b"Passengers were back on the first crossing.\r\n\r\n"
    b"dpa um xx\r\n\r\n"
    b"\x03121412 GMT\r\n\x7f\x04"
)

REUTERS_NO_TITLE = (
    b'<REUTERS TOPICS="NO" NEWID="4242"><DATE> 4-MAR-1987 10:05:00.00</DATE><UNKNOWN></UNKNOWN>\n'
    b"<TEXT>&#2;\n<BODY>Quarry owners said output rose in February. The rise was small.\n"
    b" Reuter\n&#3;</BODY></TEXT></REUTERS>"
)

AAP_NO_CARET = (
    b"ZCZC\r\n:Ferrywharf\r\n\r\nCouncil reopens the town jetty\r\n\r\n"
    b"WOLLONGONG, June 3 AAP - The town jetty reopened on Monday after repairs.\r\n\r\nNNNN\r\n"
)


def _ap_media(**fields) -> bytes:
    item = {"altids": {"itemid": "apx1"}, "type": "text", "headline": "", "version": 1}
    item.update(fields)
    return json.dumps({"api_version": "2.2", "data": {"item": item}}).encode()


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    found = LanguageDetector(seed=0)
    found.load()
    return found


def _story(data: bytes, fmt: str, detector: LanguageDetector) -> tuple[ParsedItem, Story]:
    found, results = parse_bytes(data)
    assert found == fmt
    [item] = results
    assert isinstance(item, ParsedItem), item
    story, _ = enrich_item(ParsedInput(item=item, source=SourcePosition("file", "inline"), raw=data),
                           detector, ingested_at=1)
    return item, story


def test_iptc7901_without_headline_gets_the_slugline(detector):
    item, story = _story(IPTC7901_NO_HEADLINE, "iptc7901", detector)
    assert item.headline == "" and item.slugline
    assert story.headline_derived is True
    assert item.slugline == "Harbour-ferry" and story.headline == "Harbour-ferry"


def test_ap_media_api_without_headline_gets_the_first_sentence(detector):
    data = _ap_media(description_summary="The ferry ran again on Tuesday. Passengers returned.")
    item, story = _story(data, "ap_media_api_json", detector)
    assert item.headline == "" and not item.slugline
    assert story.headline_derived is True
    assert story.headline == "The ferry ran again on Tuesday."


def test_reuters_without_title_gets_the_first_sentence(detector):
    item, story = _story(REUTERS_NO_TITLE, "reuters_sgml", detector)
    assert item.headline == "" and item.item_id == "4242"
    assert story.headline_derived is True
    assert story.headline == "Quarry owners said output rose in February."


def test_aap_without_caret_headline_is_a_story_headed_by_its_first_text_line(detector):
    # AAP's service copy puts the headline as the first text line: the parser
    # takes it (the slug 'Ferrywharf' would make a worse derived headline).
    item, story = _story(AAP_NO_CARET, "aap_text", detector)
    assert story.headline == "Council reopens the town jetty" and story.headline_derived is False
    assert item.headline == story.headline and item.slugline == "Ferrywharf"
    assert item.body_paragraphs == ("WOLLONGONG, June 3 AAP - The town jetty reopened on Monday after repairs.",)


@pytest.mark.parametrize("data", [
    IPTC7901_NO_HEADLINE[: IPTC7901_NO_HEADLINE.index(b"Kiel")] + b"\x03121412 GMT\r\n",
    REUTERS_NO_TITLE.replace(b"Quarry owners said output rose in February. The rise was small.\n", b""),
    _ap_media(),
    b"ZCZC\r\n:Ferrywharf\r\n\r\nNNNN\r\n",
], ids=["iptc7901", "reuters_sgml", "ap_media_api_json", "aap_text"])
def test_neither_headline_nor_body_is_missing_body(data):
    try:
        _, results = parse_bytes(data)
    except ParseError as error:
        reason = error.reason
    else:
        [failure] = results
        reason = failure.reason
    assert reason == DeadLetterReason.MISSING_BODY
