"""Language detection on wire copy (``transforms.language.detect``).

Fixtures are stories written for these tests, in the shape of real wire
copy (earnings briefs, ALL-CAPS headlines); the accuracy targets are held
on a bounded sample of the real corpora in ``../shared/corpora`` when they
are there.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from transforms.language.detect import (
    MIN_LETTERS,
    SAMPLE_CHARS,
    UNDETERMINED,
    LanguageDetector,
    is_table_line,
    prose_sample,
    story_sample,
)
from tests.conftest import corpus_path

EARNINGS_HEADLINE = "HARBOUR LIGHT INDUSTRIES INC <HLI> 3RD QTR NET"
EARNINGS_TABLE = "\n".join([
    "Shr 37 cts vs 52 cts",
    "Net 2.4 mln vs 3.1 mln",
    "Revs 41.7 mln vs 38.0 mln",
    "Avg shrs 6,480,000 vs 5,960,000",
    "Nine mths",
    "Shr 1.04 dlrs vs 1.31 dlrs",
    "Net 6.8 mln vs 7.9 mln",
])
EARNINGS_PROSE = (
    "Harbour Light Industries said the third quarter results include a "
    "gain of 400,000 dlrs from the sale of its marine division, and that "
    "it expects sales to improve in the fourth quarter as new orders arrive."
)
CAPS_HEADLINE = "GRAIN SHIPPERS WARN OF DELAYS AS RIVER LEVELS FALL ON THE MISSISSIPPI"
CAPS_BODY = (
    "Barge operators on the upper Mississippi said on Tuesday that low water "
    "was forcing them to lighten loads, and that shipments of corn and "
    "soybeans to the Gulf would be slower until the spring rains came."
)


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    detector = LanguageDetector(seed=0)
    detector.load()
    return detector


def test_declared_language_wins(detector):
    assert detector.detect(CAPS_HEADLINE, CAPS_BODY, "de") == ("de", 1.0)
    # Declared tags come out as one canonical ISO 639-1 code, whatever the spelling.
    assert detector.detect("", "", "nb-NO") == ("nb", 1.0)
    for declared in ("FR", "fr-FR", "fr_CA", "fre", "fra"):
        assert detector.detect("", "", declared) == ("fr", 1.0), declared
    assert detector.detect("", "", "swe") == ("sv", 1.0)
    assert detector.detect("", "", "en-US") == ("en", 1.0)


def test_declared_tag_that_names_no_language_is_ignored(detector):
    assert detector.detect(CAPS_HEADLINE, CAPS_BODY, "xx-garbage")[0] == "en"
    assert detector.detect("", "", "English") == (UNDETERMINED, 0.0)


def test_short_text_is_undetermined(detector):
    assert detector.detect("Flash", "", None) == (UNDETERMINED, 0.0)
    assert detector.detect("", "Oil 18.25", None) == (UNDETERMINED, 0.0)
    assert len("Flash") < MIN_LETTERS


def test_pure_earnings_table_is_english_wire_copy(detector):
    # No prose at all, but "Shr", "cts", "vs", "mln", "dlrs" are English wire
    # vocabulary: English, with the low confidence of a guess from figures.
    assert detector.detect("", EARNINGS_TABLE, None) == ("en", 0.5)
    assert detector.detect("", "Shr 37 cts vs 52 cts", None) == ("en", 0.5)
    code, confidence = detector.detect(EARNINGS_HEADLINE, EARNINGS_TABLE, None)
    assert code == "en" and confidence > 0.9


def test_feed_default_for_figures_without_words():
    table = "\n".join(["1,204.5 1,198.2 +0.5", "88.20 87.95 -0.25", "12:45 13:10"])
    assert LanguageDetector(default="en").detect("", table, None) == ("en", 0.0)
    assert LanguageDetector().detect("", table, None) == (UNDETERMINED, 0.0)


def test_deterministic_across_instances_and_seeds(detector):
    stories = [(CAPS_HEADLINE, CAPS_BODY), (EARNINGS_HEADLINE, EARNINGS_TABLE + "\n" + EARNINGS_PROSE),
               ("Le gouvernement annonce un plan", "Le ministre a présenté mardi un plan "
                "de relance pour les entreprises touchées par la crise.")]
    first = [detector.detect(h, b) for h, b in stories]
    again = [LanguageDetector(seed=7).detect(h, b) for h, b in stories]
    assert first == again
    assert [code for code, _ in first] == ["en", "en", "fr"]


def test_all_caps_headline_is_english(detector):
    code, confidence = detector.detect(CAPS_HEADLINE, "", None)
    assert code == "en" and confidence > 0.9
    assert detector.detect(CAPS_HEADLINE, CAPS_BODY, None)[0] == "en"


def test_earnings_brief_is_english_not_swedish(detector):
    code, confidence = detector.detect(EARNINGS_HEADLINE, EARNINGS_TABLE + "\n" + EARNINGS_PROSE, None)
    assert code == "en" and confidence > 0.9


def test_table_lines_are_not_prose():
    for line in EARNINGS_TABLE.splitlines():
        if line != "Nine mths":
            assert is_table_line(line), line
    assert not is_table_line(EARNINGS_PROSE)
    sample = prose_sample(EARNINGS_HEADLINE, EARNINGS_TABLE + "\n" + EARNINGS_PROSE)
    assert "shr" not in sample.split() and "cts" not in sample.split()
    assert "harbour light industries said" in sample


def test_sample_is_bounded_and_lower_cased():
    body = "\n".join([CAPS_BODY] * 200)
    sample = prose_sample(CAPS_HEADLINE, body)
    assert len(sample) <= SAMPLE_CHARS
    assert sample == sample.lower()


def test_scripts_without_case(detector):
    assert detector.detect("", "Правительство объявило во вторник о новых мерах поддержки.")[0] == "ru"
    assert detector.detect("", "東京証券取引所で株価が大きく値上がりしました。")[0] == "ja"
    # Latin-script names inside Arabic copy do not make it English.
    code, _ = detector.detect("", "قال متحدث باسم شركة Reuters إن الاجتماع سيعقد في London الأسبوع المقبل")
    assert code == "ar"


def test_close_relatives_told_apart_by_function_words(detector):
    pairs = [
        ("no", "Hun ble ikke med etter det, og hva skal vi gjøre nå?"),
        ("da", "Hun blev ikke med efter det, og hvad skal vi gøre nu?"),
        ("ca", "Els nens van anar a l'escola amb els seus pares perquè plovia molt."),
        ("es", "Los niños fueron a la escuela con sus padres porque llovía mucho."),
        ("sk", "Včera sa to stalo, keď som bol doma a čo som mal robiť?"),
        ("cs", "Včera se to stalo, když jsem byl doma a co jsem měl dělat?"),
    ]
    assert [detector.detect("", text)[0] for _, text in pairs] == [code for code, _ in pairs]


def test_chinese_without_kana_or_hangul_is_chinese(detector):
    assert detector.detect("", "在美国拥有两千平方米的豪宅！")[0].startswith("zh")
    assert detector.detect("", "日本の首相は東京で記者会見を開いた。")[0] == "ja"
    assert detector.detect("", "정부는 화요일 새로운 지원 대책을 발표했다.")[0] == "ko"


def test_sample_counts_english_wire_words_in_tables():
    prose, english = story_sample(EARNINGS_HEADLINE, EARNINGS_TABLE)
    assert english >= 10
    assert "cts" not in prose.split()
    assert story_sample("", "Le gouvernement a présenté mardi un plan de relance.")[1] == 0


def test_accuracy_on_real_corpora_sample(detector):
    """A bounded sample (~8 s) of the real corpora: Reuters stories with
    their declared language ignored are English, lingua sentences right."""
    corpus_path("reuters21578")
    corpus_path("langid_lingua")
    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    import language_eval

    reuters = language_eval.eval_reuters(detector, limit=1500)
    assert reuters["english"] / reuters["stories"] >= 0.995, reuters["examples_not_english"]
    lingua = language_eval.eval_lingua(lambda text: detector.detect("", text)[0], per_language=40)
    assert lingua["accuracy"] >= 0.985, lingua["top_confusions"]


def test_priors_name_known_languages_and_stay_small(detector):
    from transforms.language.detect import LANGUAGE_PRIORS

    assert set(LANGUAGE_PRIORS) <= set(detector.languages)
    # A prior decides close calls only: a story's n-grams weigh hundreds of nats.
    assert all(abs(value) <= 10 for value in LANGUAGE_PRIORS.values())


def test_eval_lists_mislabelled_lines_that_exist():
    """Every excluded line is a real, non-empty line of its file, and the
    headline figure still counts it (only the second figure leaves it out)."""
    corpus_path("langid_lingua")
    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    import language_eval

    found = {(label, number) for _, _, label, number in language_eval.lingua_sentences()
             if number in language_eval.MISLABELLED.get(label, ())}
    listed = {(label, number) for label, lines in language_eval.MISLABELLED.items() for number in lines}
    assert found == listed
    figures = language_eval.eval_lingua(lambda text: "xx", per_language=None)
    assert figures["sentences"] - figures["sentences_excluding_mislabelled"] == len(listed)


def test_word_frequencies_decide_among_close_relatives(detector):
    # Sentences written for this test; the n-grams alone (langdetect's
    # ~1,600 trigrams a language) chose a relative for the first four.
    cases = [
        ("da", "Regeringen fremlagde i går en ny plan for erhvervslivet."),
        ("sv", "Vädret blir kallt i helgen."),
        ("sv", "Aktierna steg kraftigt efter rapporten."),
        ("sk", "Ceny ropy dnes opäť klesli."),
        ("no", "Prisen på olje falt igjen i dag."),
        ("da", "Prisen på olie faldt igen i dag."),
        ("cs", "Ceny ropy dnes opět klesly."),
        ("hr", "Cijene nafte danas su ponovno pale."),
        ("sl", "Banka je dvignila obrestne mere."),
        ("ca", "El govern va presentar ahir un nou pla per a les empreses."),
        ("uk", "Уряд учора представив новий план для підприємств."),
        ("mk", "Владата вчера претстави нов план за бизнисот."),
    ]
    assert [detector.detect("", text)[0] for _, text in cases] == [code for code, _ in cases]


def test_word_frequencies_are_unigram_log_likelihoods():
    from transforms.language.words import FLOOR_FREQUENCY, WordFrequencies, words_of

    assert words_of("l'escola, 3 dies: hvad så?") == ["l", "escola", "dies", "hvad", "så"]
    frequencies = WordFrequencies()
    assert WordFrequencies.covers("no") and WordFrequencies.covers("hr")
    assert not WordFrequencies.covers("en") and not WordFrequencies.covers("af")
    danish, norwegian = frequencies.log_likelihoods(["hvad"], ["da", "no"])
    assert danish > norwegian
    unknown = frequencies.log_likelihoods(["xqzvw"], ["da", "no", "sv"])
    assert unknown == pytest.approx([math.log(FLOOR_FREQUENCY)] * 3)
    assert frequencies.log_likelihoods([], ["da"]) is None
    # Hashed with blake2b, not hash(): a fresh instance (or process) agrees.
    words = words_of("hun sagde at banken hævede renten")
    assert list(WordFrequencies().log_likelihoods(words, ["da", "no", "sv"])) == list(
        frequencies.log_likelihoods(words, ["da", "no", "sv"]))


def test_marker_words_are_derived_for_every_group_member():
    from transforms.language.markers import (
    GROUPS,
    LIST_CODES,
    MARKER_TOP,
    OWN_WORDS,
    RELATIVE_TOP,
    marker_words,
)
    from transforms.language.words import commonest_words

    markers = marker_words()
    members = [code for group in GROUPS for code in group]
    assert set(markers) == set(members)
    for group in GROUPS:
        for code in group:
            # Every relative has its own evidence, or the others win every close call.
            assert len(markers[code]) >= 15, (code, sorted(markers[code]))
            assert code in LIST_CODES or code in OWN_WORDS, code
            source = set(commonest_words(LIST_CODES[code], MARKER_TOP)) if code in LIST_CODES else set()
            assert markers[code] <= source | OWN_WORDS.get(code, frozenset()), code
            for relative in group:
                if relative != code:
                    common = set(commonest_words(LIST_CODES[relative], RELATIVE_TOP)) \
                        if relative in LIST_CODES else set(OWN_WORDS.get(relative, ()))
                    assert not markers[code] & common, (code, relative, markers[code] & common)
    # Words that tell the relatives apart, as the grammars say.
    assert {"hvad", "meget"} <= markers["da"] and {"hva", "mye", "ikkje"} <= markers["no"]
    assert "els" in markers["ca"] and "las" in markers["es"]
    assert "ktorý" in markers["sk"] and "který" in markers["cs"]
    assert "във" in markers["bg"] and "ќе" in markers["mk"]
    assert {"nie", "vir"} <= markers["af"] and "niet" in markers["nl"]
    assert "आहे" in markers["mr"] and "छ" in markers["ne"] and "है" in markers["hi"]
    assert marker_words() is markers  # built once per process


def test_commonest_words_are_words_commonest_first():
    from transforms.language.words import commonest_words

    danish = commonest_words("da", 50)
    assert len(danish) == 50 == len(set(danish))
    assert danish.index("og") < danish.index("hvad")
    assert all(word.isalpha() for word in danish)  # "00", "2" and the like are skipped
    hindi = commonest_words("hi", 30)
    assert "है" in hindi and "नहीं" in hindi  # vowel signs are marks, kept in the word
