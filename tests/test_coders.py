"""Tests for transforms/model/coders.py: the Beam coders of the typed records."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import apache_beam as beam
from apache_beam.coders import registry
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from transforms.model.coders import SourcePositionCoder, StoryCoder
from transforms.enrich import enrich_item
from transforms.language.detect import LanguageDetector
from transforms.model import (
    Caption,
    Contributor,
    Dateline,
    DedupInfo,
    ParsedInput,
    RawInput,
    SourcePosition,
    Story,
)
from transforms.parse import parse_raw_input

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_INPUTS = ROOT / "tests" / "data" / "golden" / "inputs"

KAFKA_SOURCE = SourcePosition(
    kind="kafka", uri="kafka://wire-raw/3", position="offset 17 item 1", item_index=1, topic="wire-raw",
    partition=3, offset=17, key=b"\x00key", timestamp=1_700_000_000_123,
    headers=(("wire-format", b"ninjs"), ("x", b"\xff")), item_count=2, kafka_span=(10, 17))

FULL_STORY = Story(
    id="0123456789abcdef", format="ninjs", headline="Héadline “quoted”", body="Body\n\nSecond ¶",
    source=KAFKA_SOURCE, ingested_at=1_700_000_100_000, event_time=1_700_000_000_000,
    standfirst="Standfirst", language="fr", language_confidence=0.987654321, word_count=3,
    dateline=Dateline(place="PARIS", date="March 3", agency="AFP"),
    bylines=(Contributor(name="Jane Doe", role="reporting"), Contributor(organization="Reuters")),
    agencies=("AFP", "Reuters"),
    captions=(Caption(text="A photo", photographers=("Evan Vucci",), agencies=("AP",), distributor="AP",
                      is_file_photo=True, credit_raw="(AP Photo/Evan Vucci, File)"),),
    credit_line="Source: agencies", published_at=1_699_999_999_000, item_id="urn:1", version="2",
    slugline="BC-FRANCE-STRIKE", urgency=3, content_hash="abc",
    dedup=DedupInfo(status="NEAR_DUPLICATE", cluster_id="c", duplicate_of="d", similarity=0.85),
)


def golden_stories() -> list[Story]:
    detector = LanguageDetector(seed=0)
    stories = []
    for path in sorted(GOLDEN_INPUTS.iterdir()):
        raw = RawInput(raw=path.read_bytes(), source=SourcePosition(kind="file", uri=str(path)),
                       filename=path.name, event_time=1_700_000_000_000)
        for parsed in parse_raw_input(raw):
            if isinstance(parsed, ParsedInput):
                try:
                    stories.append(enrich_item(parsed, detector, ingested_at=1)[0])
                except Exception:  # noqa: BLE001 - items the enricher rejects are not needed here
                    continue
    return stories


def test_story_round_trip_keeps_every_field():
    coder = StoryCoder()
    minimal = Story(id="x", format="plain_text", headline="H", body="", source=SourcePosition("file", "f"),
                    ingested_at=0, event_time=0)
    for story in [FULL_STORY, minimal, *golden_stories()]:
        decoded = coder.decode(coder.encode(story))
        assert decoded == story
        assert dataclasses.asdict(decoded) == dataclasses.asdict(story)
        assert decoded.to_avro() == story.to_avro()
        assert pickle.loads(pickle.dumps(decoded)) == story  # still an ordinary record


def test_encoding_is_deterministic_and_smaller_than_pickle():
    coder = StoryCoder()
    assert coder.is_deterministic()
    copy = dataclasses.replace(FULL_STORY)
    assert coder.encode(copy) == coder.encode(FULL_STORY)
    assert coder.encode(coder.decode(coder.encode(FULL_STORY))) == coder.encode(FULL_STORY)
    assert len(coder.encode(FULL_STORY)) < len(pickle.dumps(FULL_STORY))


def test_source_position_round_trip():
    coder = SourcePositionCoder()
    for source in (KAFKA_SOURCE, SourcePosition(kind="file", uri="/a b/c.xml", timestamp=5)):
        assert coder.decode(coder.encode(source)) == source


def test_coders_are_registered_for_typed_pcollections():
    assert isinstance(registry.get_coder(Story), StoryCoder)
    assert isinstance(registry.get_coder(SourcePosition), SourcePositionCoder)
    p = beam.Pipeline(runner=FnApiRunner())
    stories = (p | beam.Create([FULL_STORY]) | "Typed" >> beam.Map(lambda s: s).with_output_types(Story)
               | beam.Reshuffle())
    assert isinstance(stories.element_type, type) and stories.element_type is Story
    assert_that(stories, equal_to([FULL_STORY]))
    p.run().wait_until_finish()
