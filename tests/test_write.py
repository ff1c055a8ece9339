"""Tests for the batch writer of transforms/write.py: records encoded where
they are made, files assembled from the encoded records."""

from __future__ import annotations

import glob
import os

import apache_beam as beam
import fastavro
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from schemas import load_schema
from tests.test_coders import FULL_STORY, golden_stories
from transforms.write import WriteStories, encode_avro_record, write_avro_file, write_encoded_avro_file


def read(path):
    with open(path, "rb") as handle:
        reader = fastavro.reader(handle)
        return reader.metadata, list(reader)


def test_encoded_file_equals_the_fastavro_file(tmp_path):
    schema = fastavro.parse_schema(load_schema("story"))
    records = [story.to_avro() for story in [FULL_STORY, *golden_stories()] * 40]  # several blocks
    write_avro_file(str(tmp_path / "a.avro"), schema, records)
    count = write_encoded_avro_file(str(tmp_path / "b.avro"), schema,
                                    (encode_avro_record(schema, record) for record in records))
    assert count == len(records)
    assert read(str(tmp_path / "a.avro")) == read(str(tmp_path / "b.avro"))
    assert os.path.getsize(tmp_path / "a.avro") == os.path.getsize(tmp_path / "b.avro")
    assert write_encoded_avro_file(str(tmp_path / "c.avro"), schema, []) == 0
    assert read(str(tmp_path / "c.avro"))[1] == []
    assert not glob.glob(str(tmp_path / ".*.tmp"))


def test_write_stories_writes_every_record_once_and_acknowledges_it(tmp_path):
    stories = golden_stories()
    p = beam.Pipeline(runner=FnApiRunner())
    acks = p | beam.Create(stories) | WriteStories(str(tmp_path), num_shards=2)
    assert_that(acks | beam.Map(lambda source: source.uri), equal_to([s.source.uri for s in stories]))
    p.run().wait_until_finish()
    written = [record for path in glob.glob(str(tmp_path / "stories-all-*.avro")) for record in read(path)[1]]
    assert sorted(r["id"] for r in written) == sorted(s.id for s in stories)
    assert len(glob.glob(str(tmp_path / "stories-all-*.avro"))) <= 2
