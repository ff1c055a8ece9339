"""Language detection of wire copy (``transforms.language.detect``).

The names the old ``transforms/language.py`` module held are still answered
here for one release, with a ``DeprecationWarning``.
"""


# ----------------------------------------------------------------------------- moved (issue 19)

#: Names ``transforms.language`` held before issue 19, and where they live now. Answered here
#: for one release (old imports and pickles), with a DeprecationWarning.
_MOVED = {
    "ENGLISH_WIRE_WEIGHT": "transforms.language.detect",
    "FLOOR_SHARE": "transforms.language.detect",
    "LANGUAGE_PRIORS": "transforms.language.detect",
    "LanguageDetector": "transforms.language.detect",
    "MARKER_MARGIN": "transforms.language.detect",
    "MARKER_WEIGHT": "transforms.language.detect",
    "MIN_ENGLISH_WIRE": "transforms.language.detect",
    "MIN_LETTERS": "transforms.language.detect",
    "MIN_PROSE_WORDS": "transforms.language.detect",
    "NON_LATIN_SHARE": "transforms.language.detect",
    "ORDER_WEIGHTS": "transforms.language.detect",
    "SAMPLE_CHARS": "transforms.language.detect",
    "WIRE_ABBREVIATIONS": "transforms.language.detect",
    "WORD_FREQUENCY_WEIGHT": "transforms.language.detect",
    "_ASCII_NOT_LETTERS": "transforms.language.detect",
    "_CJK": "transforms.language.detect",
    "_CJK_PUNCTUATION": "transforms.language.detect",
    "_CharTable": "transforms.language.detect",
    "_HAN": "transforms.language.detect",
    "_HANGUL": "transforms.language.detect",
    "_INDIC_MARK": "transforms.language.detect",
    "_KANA": "transforms.language.detect",
    "_LATIN_LETTER": "transforms.language.detect",
    "_LATIN_WORD": "transforms.language.detect",
    "_LETTER": "transforms.language.detect",
    "_NON_LATIN_LETTER": "transforms.language.detect",
    "_TOKEN_EDGE": "transforms.language.detect",
    "_WORD_CACHE_SIZE": "transforms.language.detect",
    "_factory_lock": "transforms.language.detect",
    "_has_digit": "transforms.language.detect",
    "_load_model": "transforms.language.detect",
    "_model_cache": "transforms.language.detect",
    "_prose_words": "transforms.language.detect",
    "_shared_word_frequencies": "transforms.language.detect",
    "_token_kind": "transforms.language.detect",
    "_word_cache": "transforms.language.detect",
    "_word_frequencies": "transforms.language.detect",
    "_word_ngram_rows": "transforms.language.detect",
    "count_letters": "transforms.language.detect",
    "is_table_line": "transforms.language.detect",
    "prose_sample": "transforms.language.detect",
    "story_sample": "transforms.language.detect",
}


def __getattr__(name):
    try:
        module = _MOVED[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib
    import warnings

    warnings.warn(f"transforms.language.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
