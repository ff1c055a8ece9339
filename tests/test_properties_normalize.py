"""Property tests: the normalizer and text functions never raise and never hang.

``transforms.normalize`` promises pure functions that do not raise on copy
their rules do not understand; ``transforms.text`` promises normalization
that is idempotent and a content hash that ignores case, whitespace and
punctuation. Checked here on arbitrary Unicode, on strings built from the
vocabulary of bylines, datelines and credits (which reach the regexes'
deeper paths far more often than random text does), on long adversarial
strings (each call bounded in time: a backtracking regex is a hang in a
pipeline), and on whole ``ParsedItem``s with arbitrary fields.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability import CallTimedOut, time_limit
from transforms.model import Caption, CaptionText, Contributor, Dateline, ParsedItem
from transforms.normalize import (
    BylineResult,
    NormalizedItem,
    canonical_agency,
    normalize_item,
    parse_attribution,
    parse_byline,
    parse_caption,
    parse_dateline,
    parse_dateline_field,
)
from transforms.text import content_hash, count_words, fold_for_hash, normalize_paragraphs, normalize_text

CALL_SECONDS = 3.0

PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Pieces of real credits, bylines and datelines (short factual strings), recombined at random.
_TOKENS = [
    "By", "by", "BY", "and", "&", ",", ", ", " ", "/", " / ", "|", ";", "-", " - ", "–", "—", ":", ".",
    "(", ")", "[", "]", "File:", "FILE PHOTO", "Photo", "photo by", "via", "via Reuters", "for",
    "Reuters", "REUTERS", "AP", "AP Photo", "AFP", "AFP via Getty Images", "Getty Images", "EPA-EFE",
    "Sputnik", "Kremlin", "Al Jazeera", "Al Jazeera’s", "news agencies", "Source:", "Sources:",
    "Reporting by", "Additional reporting by", "Editing by", "Writing by", "Staff Writer",
    "AP Business Writer", "Correspondent", "reporting from", "said", "Sergey Guneev", "Bernard Smith",
    "Jean-Luc", "van der", "O'Brien", "MOSCOW", "KYIV, Ukraine", "WASHINGTON", "LONDON, March 3",
    "Feb 26", "(Reuters)", "(AP)", "--", "Handout", "Pool", "HANDOUT", "dpa", "Xinhua", "in", "from",
    "Moscow", "\u00a0", "\n", "\t", "ä", "ß", "İ", "ﬁ", "\u200b", "\u0301", "’s", "\"", "“", "”",
]
vocabulary_text = st.lists(st.sampled_from(_TOKENS), max_size=40).map(lambda parts: " ".join(parts))
any_text = st.one_of(st.text(max_size=300), vocabulary_text)


def bounded(call, *args):
    try:
        with time_limit(CALL_SECONDS):
            return call(*args)
    except CallTimedOut:
        pytest.fail(f"{call.__name__} hung (> {CALL_SECONDS}s) on {[a[:200] for a in args]!r}")


@PROPERTY
@given(text=st.one_of(any_text, st.none()))
def test_parse_byline_never_raises(text):
    result = bounded(parse_byline, text)
    assert isinstance(result, BylineResult)
    assert all(isinstance(c, Contributor) for c in result.contributors)
    assert all(isinstance(a, str) and a for a in result.agencies)


@PROPERTY
@given(text=any_text)
def test_parse_dateline_never_raises_and_keeps_the_rest(text):
    dateline, rest = bounded(parse_dateline, text)
    assert dateline is None or isinstance(dateline, Dateline)
    assert isinstance(rest, str)
    if dateline is None:
        assert rest == text, "no dateline: the paragraph is left as it was"
    field = bounded(parse_dateline_field, text)
    assert field is None or isinstance(field, Dateline)


@PROPERTY
@given(text=st.one_of(any_text, st.none()), credit=st.one_of(st.none(), any_text))
def test_parse_caption_never_raises(text, credit):
    caption = bounded(parse_caption, text, credit)
    assert isinstance(caption, Caption)
    assert isinstance(caption.text, str)
    assert all(isinstance(p, str) for p in caption.photographers)


@PROPERTY
@given(text=st.one_of(any_text, st.none()))
def test_canonical_agency_never_raises(text):
    name = bounded(canonical_agency, text)
    assert name is None or (isinstance(name, str) and name)
    if name is not None:
        assert bounded(canonical_agency, name) == name, "a canonical name is its own canonical name"


@PROPERTY
@given(text=any_text)
def test_parse_attribution_never_raises(text):
    assert all(isinstance(c, Contributor) for c in bounded(parse_attribution, text))


_items = st.builds(
    ParsedItem,
    format=st.just("plain_text"),
    headline=any_text,
    body_paragraphs=st.lists(any_text, max_size=5).map(tuple),
    standfirst=st.one_of(st.none(), any_text),
    bylines=st.lists(any_text, max_size=3).map(tuple),
    dateline=st.one_of(st.none(), any_text),
    captions=st.lists(st.builds(CaptionText, text=any_text, credit=st.one_of(st.none(), any_text),
                                kind=st.sampled_from(["photo", "map", "graphic"])), max_size=3).map(tuple),
    credit_line=st.one_of(st.none(), any_text),
    agency=st.one_of(st.none(), any_text),
)


@PROPERTY
@given(item=_items)
def test_normalize_item_never_raises(item):
    normalized = bounded(normalize_item, item)
    assert isinstance(normalized, NormalizedItem)
    assert all(p == normalize_text(p) and p for p in normalized.body_paragraphs)
    assert len(set(normalized.agencies)) == len(normalized.agencies), "agencies are listed once"
    assert normalized.unparsed >= 0


# ---- long adversarial strings: regexes must stay linear ---------------------------------------

_LONG_SHAPES = {
    "caps_words": "MOSCOW " * 5000,
    "commas": "Smith, " * 5000,
    "and_names": "Smith and Jones " * 3000,
    "by_repeated": "By " * 10000,
    "slashes": "Reuters/" * 5000,
    "via_chain": "Photo via " * 5000,
    "possessive": "Al Jazeera’s Bernard Smith " * 2000 + "reporting from",
    "reporting_from": "Reuters’s Jo Ann Smith, reporting from " * 1000,
    "parens": "(" * 5000 + ")" * 5000,
    "brackets": "[File: " * 5000,
    "dashes": "- " * 10000,
    "spaces": " " * 50000 + "x",
    "capital_run": "A" * 50000,
    "for_chain": "Smith for " * 5000,
    "dateline_like": "LONDON, " * 5000 + "—",
}


@pytest.mark.parametrize("shape", sorted(_LONG_SHAPES))
@pytest.mark.parametrize("function", [parse_byline, parse_dateline, parse_dateline_field, parse_caption,
                                      canonical_agency, parse_attribution, normalize_text],
                         ids=lambda f: f.__name__)
def test_long_adversarial_strings_finish_in_time(function, shape):
    bounded(function, _LONG_SHAPES[shape])


@pytest.mark.parametrize("shape", sorted(_LONG_SHAPES))
def test_normalize_item_on_long_fields(shape):
    text = _LONG_SHAPES[shape]
    item = ParsedItem(format="plain_text", headline=text[:2000], body_paragraphs=(text, text[:1000]),
                      standfirst=text, bylines=(text,), captions=(CaptionText(text=text),),
                      credit_line=text)
    bounded(normalize_item, item)


# ---- transforms.text ------------------------------------------------------------------------


@PROPERTY
@given(text=st.text(max_size=500))
def test_normalize_text_is_idempotent_and_clean(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert once == once.strip() and "  " not in once
    assert not any(ch in once for ch in "\n\t\r\x00\x7f\u200b\ufeff")


@PROPERTY
@given(paragraphs=st.lists(st.text(max_size=100), max_size=8))
def test_normalize_paragraphs_drops_only_empty_ones(paragraphs):
    out = normalize_paragraphs(paragraphs)
    assert out == [p for p in (normalize_text(x) for x in paragraphs) if p]


@PROPERTY
@given(text=st.text(max_size=500))
def test_content_hash_ignores_case_whitespace_and_punctuation(text):
    digest = content_hash(text)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert content_hash(text.upper()) == content_hash(text.lower()) or text.upper().lower() != text.lower()
    assert content_hash("  " + text.replace(" ", "\n\n") + " !") == digest
    assert fold_for_hash(fold_for_hash(text)) == fold_for_hash(text)


@PROPERTY
@given(text=st.text(max_size=500))
def test_count_words_is_bounded_by_tokens(text):
    assert 0 <= count_words(text) <= len(text.split())


# ---- fast paths of the normalizer give what the full treatment gives ------------------------

# Characters where the shortcuts could go wrong: spaces and other whitespace, controls,
# combining marks (NFC), and letters that match a hint only case-insensitively.
_TRICKY = list("ab AZ.-’\u00e9e\u0301\u0327c\u00a0\u2003\t\n\r\x0b\x1f\x7f\x85\u200b\ufeffİıſ\u212aK")
tricky_text = st.text(alphabet=st.sampled_from(_TRICKY), max_size=60)
hint_text = st.lists(
    st.sampled_from(["reporting", "REPORTING", "reportıng", "ſpeaking", "speaking", "Reports", "reported",
                     "from", "FROM", "fRom", " ", "  ", "\n", "\u00a0", "Al Jazeera’s Bernard Smith,", "x"]),
    max_size=12,
).map("".join)
paragraph_text = st.one_of(tricky_text, vocabulary_text, hint_text, st.text(max_size=80))


@PROPERTY
@given(paragraphs=st.lists(paragraph_text, max_size=6).map(tuple))
def test_paragraphs_are_cleaned_as_normalize_text_cleans_each(paragraphs):
    from transforms.normalize.item import _clean_paragraphs

    cleaned, body = _clean_paragraphs(paragraphs)
    assert cleaned == tuple(p for p in map(normalize_text, paragraphs) if p)
    if body is not None:  # only when nothing changed
        assert body == " ".join(paragraphs) and cleaned == paragraphs


@PROPERTY
@given(text=st.one_of(paragraph_text, hint_text))
def test_attribution_hint_check_agrees_with_the_regex(text):
    from transforms.normalize.byline import _HINT, has_attribution_hint

    assert has_attribution_hint(text) == (" from " in text and _HINT.search(text) is not None)


@PROPERTY
@given(paragraphs=st.lists(st.one_of(hint_text, paragraph_text), max_size=5).map(tuple), cut=st.integers(0, 30))
def test_body_check_never_skips_a_paragraph_with_an_attribution_hint(paragraphs, cut):
    from transforms.normalize.byline import has_attribution_hint
    from transforms.normalize.item import _clean_paragraphs

    cleaned, body = _clean_paragraphs(paragraphs)
    checked = body if body is not None else "\n".join(cleaned)
    cleaned = list(cleaned)
    if cleaned:  # normalize_item may cut a dateline off the first paragraph
        cleaned[0] = cleaned[0][cut:].strip()
    if any(has_attribution_hint(p) for p in cleaned):
        assert has_attribution_hint(checked)


@PROPERTY
@given(item=_items)
def test_remembered_results_equal_fresh_ones(item):
    from transforms.normalize import default_registry
    from transforms.normalize.memo import forget_all

    warm = normalize_item(item)
    assert normalize_item(item) == warm
    forget_all()
    default_registry().forget()
    assert normalize_item(item) == warm
