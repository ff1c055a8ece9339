"""Unit tests for transforms.normalize: the house styles named in issue 3, the seed story,
the agency registry, the CLI command and the never-raise contract."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.model import Caption, CaptionText, Contributor, Dateline, ParsedItem
from transforms.normalize import (
    ENV_VAR,
    BylineResult,
    NormalizedItem,
    canonical_agency,
    is_generic,
    load_registry,
    natural_case,
    normalize_item,
    parse_attribution,
    parse_byline,
    parse_caption,
    parse_caption_ex,
    parse_dateline,
    parse_dateline_field,
    use_registry,
)
from transforms.normalize.cli import normalize_command

SEED = Path(__file__).parents[1] / "seeds" / "000_47ad94e21230f2f9.txt"


def people(result: BylineResult) -> list[tuple]:
    return [(c.name, c.role, c.organization, c.location) for c in result.contributors]


# ---------------------------------------------------------------- agencies


@pytest.mark.parametrize(
    "alias, canonical",
    [
        ("REUTERS", "Reuters"),
        ("Reuter", "Reuters"),
        ("Thomson Reuters", "Reuters"),
        ("AP", "Associated Press"),
        ("AP Photo", "Associated Press"),
        ("The Associated Press", "Associated Press"),
        ("AFP", "Agence France-Presse"),
        ("Getty", "Getty Images"),
        ("EPA", "EPA-EFE"),
        ("DPA", "dpa"),
        ("Xinhua News Agency", "Xinhua"),
        ("ITAR-TASS", "TASS"),
        ("Sputnik", "Sputnik"),
        ("Anadolu", "Anadolu Agency"),
        ("Press Association", "PA Media"),
        ("Yonhap", "Yonhap"),
        ("Kyodo News", "Kyodo"),
        ("ANSA", "ANSA"),
        ("United Press International", "UPI"),
        ("Bloomberg News", "Bloomberg"),
        ("Al Jazeera", "Al Jazeera"),
        ("  reuters. ", "Reuters"),
        ("ＡＰ", "Associated Press"),  # full-width, as Japanese sites write it
    ],
)
def test_canonical_agency_maps_aliases(alias, canonical):
    assert canonical_agency(alias) == canonical


@pytest.mark.parametrize("generic", ["news agencies", "agencies", "News Agencies", "wires"])
def test_generic_credits_are_recognised_but_not_agencies(generic):
    assert canonical_agency(generic) is None
    assert is_generic(generic)


def test_unknown_names_are_not_agencies():
    assert canonical_agency("Bernard Smith") is None
    assert canonical_agency("") is None
    assert not is_generic("Reuters")


def test_registry_is_extended_by_a_user_file_and_the_env_var(tmp_path, monkeypatch):
    extra = tmp_path / "mine.tsv"
    extra.write_text("# house agencies\nWire Ingest News\tagency\tWIN|W.I.N.\nReuters\tagency\tRTRS\n")
    registry = load_registry([extra], use_env=False)
    assert registry.canonical_agency("win") == "Wire Ingest News"
    assert registry.canonical_agency("RTRS") == "Reuters"
    assert registry.canonical_agency("AFP") == "Agence France-Presse"  # built-ins kept
    monkeypatch.setenv(ENV_VAR, str(extra))
    assert load_registry().canonical_agency("W.I.N.") == "Wire Ingest News"
    result = parse_byline("By Jane Doe, WIN", registry)
    assert people(result) == [("Jane Doe", None, "Wire Ingest News", None)]
    assert result.agencies == ("Wire Ingest News",)


def test_use_registry_replaces_the_process_registry(tmp_path):
    extra = tmp_path / "mine.tsv"
    extra.write_text("Wire Ingest News\tagency\tWIN\n")
    try:
        use_registry(extra_paths=[extra])
        assert canonical_agency("WIN") == "Wire Ingest News"
    finally:
        use_registry(load_registry(use_env=False))
    assert canonical_agency("WIN") is None


def test_registry_forgets_remembered_parses_when_an_agency_is_added():
    registry = load_registry(use_env=False)
    before = parse_byline("By Jane Doe, WIN", registry)
    assert before.agencies == () and parse_byline("By Jane Doe, WIN", registry) is before  # remembered
    assert parse_dateline_field("GENEVA, March 3, WIN", registry).agency is None
    registry.add("Wire Ingest News", "agency", ["WIN"])
    assert parse_byline("By Jane Doe, WIN", registry).agencies == ("Wire Ingest News",)
    assert parse_dateline_field("GENEVA, March 3, WIN", registry).agency == "Wire Ingest News"
    assert registry.canonical_agency("WIN") == "Wire Ingest News"


def test_registry_pickles_without_its_memos():
    import pickle

    registry = load_registry(use_env=False)
    parse_byline("By Jane Doe, AFP", registry)
    copy = pickle.loads(pickle.dumps(registry))
    assert copy == registry and copy._memos == {} and copy._agencies == {}
    assert parse_byline("By Jane Doe, AFP", copy) == parse_byline("By Jane Doe, AFP", registry)


def test_memo_is_bounded_and_skips_long_strings():
    from transforms.normalize.memo import MEMO_MAX_CHARS, MEMO_SIZE, memoize

    calls = []
    upper = memoize(lambda text: calls.append(text) or text.upper(), register=False)
    assert upper("ap") == upper("ap") == "AP" and calls == ["ap"]
    long_text = "x" * (MEMO_MAX_CHARS + 1)
    assert upper(long_text) == upper(long_text) == long_text.upper() and calls.count(long_text) == 2
    assert upper.cache_info().maxsize == MEMO_SIZE


def test_bad_registry_line_fails_with_its_location(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("\tagency\tX\n")
    with pytest.raises(ValueError, match="bad.tsv:1"):
        load_registry([bad], use_env=False)


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    "raw, natural",
    [
        ("JOHN MCHUGH", "John McHugh"),
        ("SEAN O'CONNOR", "Sean O'Connor"),
        ("ANNE-MARIE DUVAL", "Anne-Marie Duval"),
        ("URSULA VON DER LEYEN", "Ursula von der Leyen"),
        ("JOSÉ ÁLVAREZ NÚÑEZ", "José Álvarez Núñez"),
        ("MYRA MACDONALD", "Myra MacDonald"),
        ("Ian MacKenzie", "Ian MacKenzie"),  # mixed case is kept as written
        ("Fouzia Van Der Fort", "Fouzia Van Der Fort"),
        ("keith grant", "Keith Grant"),
    ],
)
def test_natural_case(raw, natural):
    assert natural_case(raw) == natural


# ---------------------------------------------------------------- bylines


@pytest.mark.parametrize(
    "text, expected_people, agencies",
    [
        ("By JOHN SMITH, Associated Press", [("John Smith", None, "Associated Press", None)], ("Associated Press",)),
        ("By Anna Petrova and Luis Ortega", [("Anna Petrova", None, None, None), ("Luis Ortega", None, None, None)], ()),
        (
            "By Ann Lee, Bo Kim and Cy Diaz | AP",
            [(n, None, "Associated Press", None) for n in ("Ann Lee", "Bo Kim", "Cy Diaz")],
            ("Associated Press",),
        ),
        ("By Olga Ivanova (Reuters)", [("Olga Ivanova", None, "Reuters", None)], ("Reuters",)),
        ("By Marta Rossi in Geneva", [("Marta Rossi", None, None, "Geneva")], ()),
        ("By AFP", [], ("Agence France-Presse",)),
        ("By Reuters Staff", [], ("Reuters",)),
        ("By Al Jazeera Staff", [], ("Al Jazeera",)),
        ("By BERNARD CONDON, AP Business Writer", [("Bernard Condon", None, "Associated Press", None)], ("Associated Press",)),
        ("By PADRAIG O'CONNOR and ANNE-MARIE MCHUGH", [("Padraig O'Connor", None, None, None), ("Anne-Marie McHugh", None, None, None)], ()),
        (
            "Al Jazeera's Bernard Smith, reporting from Moscow",
            [("Bernard Smith", None, "Al Jazeera", "Moscow")],
            ("Al Jazeera",),
        ),
        ("Source: Al Jazeera and news agencies", [], ("Al Jazeera",)),
        ("Source: Reuters, AFP", [], ("Reuters", "Agence France-Presse")),
        ("By MATTHEW LEE AP Diplomatic Writer", [("Matthew Lee", None, "Associated Press", None)], ("Associated Press",)),
        ("Compiled by Al Jazeera Staff", [], ("Al Jazeera",)),
        ("Von Anna Müller, dpa", [("Anna Müller", None, "dpa", None)], ("dpa",)),
    ],
)
def test_byline_house_styles(text, expected_people, agencies):
    result = parse_byline(text)
    assert people(result) == expected_people
    assert result.agencies == agencies
    assert result.understood


def test_byline_roles_are_kept_in_order_lower_case():
    result = parse_byline(
        "Reporting by Polina Ivanova in Moscow; Additional reporting by Tom Balmforth; "
        "Writing by Guy Faulconbridge; Editing by Andrew Cawthorne"
    )
    assert people(result) == [
        ("Polina Ivanova", "reporting", None, "Moscow"),
        ("Tom Balmforth", "additional reporting", None, None),
        ("Guy Faulconbridge", "writing", None, None),
        ("Andrew Cawthorne", "editing", None, None),
    ]


def test_byline_stringer_is_nobody():
    assert parse_byline("STR").contributors == ()


@pytest.mark.parametrize("text", ["", "By", "daa/mt/msr", "   ", "||", "By 1234 @@"])
def test_byline_not_understood_gives_empty_fields(text):
    result = parse_byline(text)
    assert result.contributors == () and result.agencies == ()
    assert not result.understood


@pytest.mark.parametrize(
    "paragraph, expected",
    [
        ("Al Jazeera’s Bernard Smith, reporting from Moscow, said talks were unlikely.",
         [Contributor("Bernard Smith", None, "Al Jazeera", "Moscow")]),
        ("Reporting from Kyiv, Al Jazeera’s Zein Basravi said the city was calm.",
         [Contributor("Zein Basravi", None, "Al Jazeera", "Kyiv")]),
        ("Al Jazeera’s senior political correspondent Jane Doe, reporting from Geneva, said so.",
         [Contributor("Jane Doe", None, "Al Jazeera", "Geneva")]),
        ("Russia’s Vladimir Putin, speaking from Moscow, said the operation would go on.", []),
        ("The minister said the talks would resume.", []),
    ],
)
def test_inline_attributions_in_body_text(paragraph, expected):
    assert parse_attribution(paragraph) == expected


# ---------------------------------------------------------------- datelines


@pytest.mark.parametrize(
    "paragraph, dateline, rest",
    [
        ("MOSCOW (Reuters) - The Kremlin said.", Dateline("Moscow", None, "Reuters", "Moscow", None, "MOSCOW (Reuters)"), "The Kremlin said."),
        ("KYIV, Ukraine (AP) — Sirens sounded.", Dateline("Kyiv, Ukraine", None, "Associated Press", "Kyiv", "Ukraine", "KYIV, Ukraine (AP)"),
         "Sirens sounded."),
        ("WASHINGTON, March 3 - The Fed held.", Dateline("Washington", "March 3", None, "Washington", None, "WASHINGTON, March 3"),
         "The Fed held."),
        ("ST. PETERSBURG, Russia (AP) — Snow fell.", Dateline("St. Petersburg, Russia", None, "Associated Press", "St. Petersburg", "Russia",
                                                             "ST. PETERSBURG, Russia (AP)"), "Snow fell."),
        ("RIO DE JANEIRO, Jan 5 (Reuters) - Rain fell.", Dateline("Rio de Janeiro", "Jan 5", "Reuters", "Rio de Janeiro", None,
                                                                   "RIO DE JANEIRO, Jan 5 (Reuters)"), "Rain fell."),
        ("Berlin (dpa) - Der Bundestag tagt.", Dateline("Berlin", None, "dpa", "Berlin", None, "Berlin (dpa)"),
         "Der Bundestag tagt."),
        # AP teletype copy: the dash is a spaced underscore.
        ("DOVER, Del. (AP) _ The tide came in.", Dateline("Dover, Del.", None, "Associated Press", "Dover", "Del.", "DOVER, Del. (AP)"),
         "The tide came in."),
    ],
)
def test_dateline_is_split_from_the_paragraph(paragraph, dateline, rest):
    assert parse_dateline(paragraph) == (dateline, rest)


@pytest.mark.parametrize(
    "paragraph",
    [
        "Russian President Vladimir Putin said on Friday he was ready to talk.",
        "NATO allies met in Brussels - and agreed nothing.",
        "The snake_case name _ and a spaced underscore are not a dateline.",
        "UPDATE 1 - Oil prices rose.",
        "The company said: profits fell.",
        "YEAR - period ended October 31, 1986",
        "NASDAQ HALT - ACME BEVERAGE CORP, NEWS PENDING",
        "Acme Inc (ACM) - Offering of two mln shares",
        "Norf./Phil. -- -- 3.06 2.98 --",
        "U.S. COLD STORAGE STOCKS - MARCH 1 FROZEN PORK",
        "",
    ],
)
def test_lead_sentence_without_dateline_gives_none(paragraph):
    assert parse_dateline(paragraph) == (None, paragraph)


def test_dateline_given_apart_is_parsed_leniently():
    assert parse_dateline_field("ROME, March 13, Reuter -") == Dateline(
        "Rome", "March 13", "Reuters", "Rome", None, "ROME, March 13, Reuter")
    assert parse_dateline_field("Mexico city, march 18 -") == Dateline(
        "Mexico City", "march 18", None, "Mexico City", None, "Mexico city, march 18")
    assert parse_dateline_field("FORT WASHINGTON, Pa.") == Dateline(
        "Fort Washington, Pa.", None, None, "Fort Washington", "Pa.", "FORT WASHINGTON, Pa.")
    assert parse_dateline_field("") is None


# ---------------------------------------------------------------- captions


@pytest.mark.parametrize(
    "caption, text, photographers, agencies, distributor, is_file, is_handout",
    [
        ("Putin at the Kremlin [File: Sputnik/Sergey Guneev/Kremlin via Reuters]",
         "Putin at the Kremlin", ("Sergey Guneev",), ("Sputnik", "Kremlin"), "Reuters", True, False),
        ("Biden speaks (AP Photo/Evan Vucci)", "Biden speaks", ("Evan Vucci",), ("Associated Press",), None, False, False),
        ("Biden speaks (AP Photo/Evan Vucci, File)", "Biden speaks", ("Evan Vucci",), ("Associated Press",), None, True, False),
        ("Smoke rises. REUTERS/Gleb Garanich", "Smoke rises.", ("Gleb Garanich",), ("Reuters",), None, False, False),
        ("Smoke rises. REUTERS/Gleb Garanich/File Photo", "Smoke rises.", ("Gleb Garanich",), ("Reuters",), None, True, False),
        ("Smoke rises. REUTERS/Gleb Garanich TPX IMAGES OF THE DAY", "Smoke rises.", ("Gleb Garanich",), ("Reuters",), None, False, False),
        ("Crowds gather (Photo by LUDOVIC MARIN / AFP)", "Crowds gather", ("Ludovic Marin",), ("Agence France-Presse",), None, False, False),
        ("Crowds gather (Photo by Chip Somodevilla/Getty Images)", "Crowds gather", ("Chip Somodevilla",), ("Getty Images",), None, False, False),
        ("Crowds gather. SERGEI SUPINSKY/AFP via Getty Images", "Crowds gather.", ("Sergei Supinsky",), ("Agence France-Presse",), "Getty Images", False, False),
        ("Crowds gather. STR/AFP via Getty Images", "Crowds gather.", (), ("Agence France-Presse",), "Getty Images", False, False),
        ("Workers repair a dam (Xinhua/Li Ming)", "Workers repair a dam", ("Li Ming",), ("Xinhua",), None, False, False),
        ("Der Hafen im Sturm. Photo: Jens Büttner/dpa", "Der Hafen im Sturm.", ("Jens Büttner",), ("dpa",), None, False, False),
        ("Starmer speaks (Stefan Rousseau/PA via AP)", "Starmer speaks", ("Stefan Rousseau",), ("PA Media",), "Associated Press", False, False),
        ("Damage in Aleppo [Handout/SANA via Reuters]", "Damage in Aleppo", (), ("SANA",), "Reuters", False, True),
        ("Fighters in Gaza [Al Jazeera]", "Fighters in Gaza", (), ("Al Jazeera",), None, False, False),
    ],
)
def test_caption_credit_styles(caption, text, photographers, agencies, distributor, is_file, is_handout):
    parsed = parse_caption(caption)
    assert parsed.text == text
    assert parsed.photographers == photographers
    assert parsed.agencies == agencies
    assert parsed.distributor == distributor
    assert parsed.is_file_photo is is_file
    assert parsed.is_handout is is_handout
    assert parsed.credit_raw and parsed.credit_raw in caption


@pytest.mark.parametrize(
    "credit, photographers, agencies, distributor, is_handout",
    [
        ("Courtesy of NASA", (), ("NASA",), None, True),
        ("Pool via REUTERS", (), (), "Reuters", False),
        ("Ukrainian Presidential Press Service/Handout via REUTERS", (), ("Ukrainian Presidential Press Service",), "Reuters", True),
        ("EPA-EFE/YURI KOCHETKOV", ("Yuri Kochetkov",), ("EPA-EFE",), None, False),
        ("Xinhua/Zhang Cheng via Getty Images", ("Zhang Cheng",), ("Xinhua",), "Getty Images", False),
    ],
)
def test_credit_given_apart(credit, photographers, agencies, distributor, is_handout):
    parsed = parse_caption("", credit=credit)
    assert (parsed.photographers, parsed.agencies, parsed.distributor, parsed.is_handout) == (
        photographers, agencies, distributor, is_handout
    )
    assert parsed.credit_raw == credit


def test_caption_with_credit_given_apart():
    parsed = parse_caption("Fans celebrate", credit="picture alliance/dpa | Jan Woitas")
    assert parsed == Caption(
        text="Fans celebrate",
        photographers=("Jan Woitas",),
        agencies=("picture alliance", "dpa"),
        credit_raw="picture alliance/dpa | Jan Woitas",
    )


def test_caption_without_credit_keeps_text():
    assert parse_caption("A quiet street in Lviv.") == Caption(text="A quiet street in Lviv.")


@pytest.mark.parametrize("raw", ["– Midjourney („housewife baking bread | advertisement 1950’s“)", "???", "12345"])
def test_unreadable_credit_keeps_raw_and_empty_fields(raw):
    parsed, understood = parse_caption_ex("An advert", credit=raw)
    assert parsed == Caption(text="An advert", credit_raw=raw)
    assert not understood


# ---------------------------------------------------------------- the seed story


def _seed_item() -> ParsedItem:
    blocks = [b.strip() for b in SEED.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    caption_lines = blocks[2].split("\n")
    return ParsedItem(
        format="plain_text",
        headline=blocks[0],
        standfirst=blocks[1],
        captions=(CaptionText(text=caption_lines[-1]),),
        body_paragraphs=tuple(blocks[3:-1]),
        credit_line=blocks[-1],
    )


def test_seed_story_caption_credit_source_line_and_inline_attribution():
    item = _seed_item()
    normalized = normalize_item(item)
    assert isinstance(normalized, NormalizedItem)
    (caption,) = normalized.captions
    assert caption.text.endswith("in the early hours of Thursday")
    assert caption.photographers == ("Sergey Guneev",)
    assert caption.agencies == ("Sputnik", "Kremlin")
    assert caption.distributor == "Reuters"
    assert caption.is_file_photo and not caption.is_handout
    assert caption.credit_raw == "[File: Sputnik/Sergey Guneev/Kremlin via Reuters]"
    assert normalized.credit_line == "Source: Al Jazeera and news agencies"
    assert normalized.bylines == (Contributor("Bernard Smith", None, "Al Jazeera", "Moscow"),)
    assert normalized.agencies == ("Al Jazeera", "Sputnik", "Reuters")
    assert normalized.dateline is None  # the lead sentence has none
    assert normalized.unparsed == 0
    # Inline attributions leave the body alone.
    assert tuple(item.body_paragraphs) == normalized.body_paragraphs
    assert any(p.startswith("Al Jazeera’s Bernard Smith, reporting from Moscow") for p in normalized.body_paragraphs)


def test_normalize_item_moves_the_dateline_and_counts_unparsed():
    item = ParsedItem(
        format="test",
        headline="  Oil  prices\u200b rise ",
        body_paragraphs=("LONDON, March 3 (Reuters) - Oil rose on Tuesday.", "", "Brent gained 2%."),
        bylines=("By DMITRY ZHDANNIKOV, Reuters", "daa/mt/msr"),
        captions=(CaptionText(text="A rig", credit="REUTERS/Stringer/File Photo"),),
        credit_line="Source: news agencies",
        agency="REUTERS",
    )
    normalized = normalize_item(item)
    assert normalized.headline == "Oil prices rise"
    assert normalized.dateline == Dateline("London", "March 3", "Reuters", "London", None,
                                                "LONDON, March 3 (Reuters)")
    assert normalized.body_paragraphs == ("Oil rose on Tuesday.", "Brent gained 2%.")
    assert normalized.bylines == (Contributor("Dmitry Zhdannikov", None, "Reuters", None),)
    assert normalized.agencies == ("Reuters",)
    assert normalized.captions[0].photographers == ()
    assert normalized.captions[0].is_file_photo
    assert normalized.unparsed == 1  # the dpa editor initials


def test_normalize_item_uses_a_dateline_given_apart_and_leaves_the_body():
    item = ParsedItem(
        format="reuters_sgml",
        headline="Cocoa review",
        body_paragraphs=("Showers continued throughout the week.",),
        dateline="SALVADOR, Feb 26 -",
    )
    normalized = normalize_item(item)
    assert normalized.dateline == Dateline("Salvador", "Feb 26", None, "Salvador", None, "SALVADOR, Feb 26")
    assert normalized.body_paragraphs == ("Showers continued throughout the week.",)


def test_normalize_item_dateline_only_paragraph_is_dropped():
    item = ParsedItem(format="t", headline="h", body_paragraphs=("GENEVA (Reuters) -", "Talks resumed."))
    normalized = normalize_item(item)
    assert normalized.dateline == Dateline("Geneva", None, "Reuters", "Geneva", None, "GENEVA (Reuters)")
    assert normalized.body_paragraphs == ("Talks resumed.",)


# ---------------------------------------------------------------- never raise


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120)


@settings(max_examples=300, deadline=None)
@given(_text)
def test_parsers_never_raise(text):
    assert isinstance(parse_byline(text), BylineResult)
    assert isinstance(parse_caption(text), Caption)
    assert isinstance(parse_caption("x", credit=text or None), Caption)
    dateline, rest = parse_dateline(text)
    assert dateline is None or isinstance(dateline, Dateline)
    parse_dateline_field(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(_text, max_size=4), _text, st.lists(_text, max_size=3))
def test_normalize_item_never_raises(paragraphs, byline, captions):
    item = ParsedItem(
        format="fuzz",
        headline=byline,
        body_paragraphs=tuple(paragraphs),
        bylines=(byline,),
        captions=tuple(CaptionText(text=c) for c in captions),
        credit_line=byline,
    )
    normalized = normalize_item(item)
    assert 0 <= normalized.unparsed <= 1 + len(captions) + 1


# ---------------------------------------------------------------- CLI


def test_cli_byline_from_arguments():
    out = io.StringIO()
    assert normalize_command("byline", ["By JOHN SMITH, Associated Press", "By AFP"], out) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines == [
        {
            "contributors": [
                {"name": "John Smith", "role": None, "organization": "Associated Press", "location": None}
            ],
            "agencies": ["Associated Press"],
        },
        {"contributors": [], "agencies": ["Agence France-Presse"]},
    ]


def test_cli_caption_and_dateline_from_stdin_lines():
    out = io.StringIO()
    stdin = io.StringIO("Smoke rises. REUTERS/Gleb Garanich\n\nNo credit at all\n")
    assert normalize_command("caption", stdin, out) == 0
    first, blank, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert blank["text"] == "" and blank["credit_raw"] is None  # one answer per input line
    assert first == {
        "text": "Smoke rises.",
        "photographers": ["Gleb Garanich"],
        "agencies": ["Reuters"],
        "distributor": None,
        "is_file_photo": False,
        "is_handout": False,
        "credit_raw": "REUTERS/Gleb Garanich",
        "alt_text": None,
    }
    assert second["text"] == "No credit at all" and second["credit_raw"] is None

    out = io.StringIO()
    stdin = io.StringIO("KYIV, Ukraine (AP) — Sirens sounded.\nThe lead sentence has none.\nWASHINGTON, March 17 -\n")
    assert normalize_command("dateline", stdin, out) == 0
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"place": "Kyiv, Ukraine", "date": None, "agency": "Associated Press",
         "city": "Kyiv", "region": "Ukraine", "raw": "KYIV, Ukraine (AP)"},
        {"place": None, "date": None, "agency": None, "city": None, "region": None, "raw": None},
        {"place": "Washington", "date": "March 17", "agency": None,
         "city": "Washington", "region": None, "raw": "WASHINGTON, March 17"},
    ]


def test_cli_rejects_an_unknown_kind():
    out, err = io.StringIO(), io.StringIO()
    assert normalize_command("headline", ["x"], out, err) == 2
    assert out.getvalue() == "" and "byline" in err.getvalue()
