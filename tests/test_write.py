"""Tests for the batch writer of transforms/io/write.py: records encoded where
they are made, files assembled from the encoded records; and durability: a
file is fsynced, renamed, and its directory fsynced before any of its
records is acknowledged (``DiskOps`` records the calls in order)."""

from __future__ import annotations

import dataclasses
import errno
import glob
import os
import stat
from typing import Optional

import apache_beam as beam
import fastavro
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from schemas import load_schema
from tests.test_coders import FULL_STORY, golden_stories
from transforms.io.write import (
    WriteStories,
    _EncodeAvroFn,
    _WriteShardFn,
    encode_avro_record,
    fsync_directory,
    write_avro_file,
    write_encoded_avro_file,
)


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


# --------------------------------------------------------------------------- durability


class DiskOps:
    """``os.fsync`` and ``os.replace`` recorded in the order they are done
    (and still done): ("fsync-file"|"fsync-dir", inode), ("replace", name);
    ``mark(what)`` adds (what,) between them."""

    def __init__(self, monkeypatch, fail_directory_sync: Optional[int] = None):
        self.events: list[tuple] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(descriptor):
            info = os.fstat(descriptor)
            is_dir = stat.S_ISDIR(info.st_mode)
            self.events.append(("fsync-dir" if is_dir else "fsync-file", info.st_ino))
            if is_dir and fail_directory_sync is not None:
                raise OSError(fail_directory_sync, os.strerror(fail_directory_sync))
            real_fsync(descriptor)

        def replace(source, target, **kwargs):
            real_replace(source, target, **kwargs)
            self.events.append(("replace", os.path.basename(target)))

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)

    def mark(self, what: str) -> None:
        self.events.append((what,))


def assert_renames_synced_before(events: list[tuple], directory, marker: str, files: int) -> None:
    """Each of ``files`` renames was of an fsynced file and is followed by an
    fsync of ``directory`` before ``marker`` (the first acknowledgement)."""
    directory_inode = os.stat(directory).st_ino
    end = events.index((marker,))
    renames = [i for i, event in enumerate(events[:end]) if event[0] == "replace"]
    assert len(renames) == files, events
    for i in renames:
        assert events[i - 1][0] == "fsync-file", f"renamed before its data was synced: {events}"
        assert ("fsync-dir", directory_inode) in events[i + 1:end], \
            f"{events[i][1]} acknowledged before its directory was synced: {events}"


def test_a_file_is_renamed_then_its_directory_synced(tmp_path, monkeypatch):
    schema = fastavro.parse_schema(load_schema("story"))
    ops = DiskOps(monkeypatch)
    write_avro_file(str(tmp_path / "out" / "a.avro"), schema, [FULL_STORY.to_avro()])
    ops.mark("returned")
    assert_renames_synced_before(ops.events, tmp_path / "out", "returned", files=1)


def test_batch_writer_syncs_the_directory_before_it_acknowledges(tmp_path, monkeypatch):
    stories = [dataclasses.replace(FULL_STORY, id=f"story-{i}", source=dataclasses.replace(
        FULL_STORY.source, uri=f"/in/{i}.txt")) for i in range(3)]
    encode = _EncodeAvroFn("story", 1)
    encode.setup()
    entries = [entry for story in stories for _, entry in encode.process(story)]
    writer = _WriteShardFn(str(tmp_path), "stories", "story")
    writer.setup()
    ops = DiskOps(monkeypatch)
    acks = writer.process((0, entries))
    first = next(acks)
    ops.mark("ack")
    assert_renames_synced_before(ops.events, tmp_path, "ack", files=1)
    assert sorted(s.uri for s in [first, *acks]) == sorted(s.source.uri for s in stories)


def test_a_failed_directory_sync_acknowledges_nothing_and_leaves_no_file(tmp_path, monkeypatch):
    encode = _EncodeAvroFn("story", 1)
    encode.setup()
    entries = [entry for _, entry in encode.process(FULL_STORY)]
    writer = _WriteShardFn(str(tmp_path), "stories", "story")
    writer.setup()
    DiskOps(monkeypatch, fail_directory_sync=errno.EIO)
    with pytest.raises(OSError):
        next(writer.process((0, entries)))
    assert os.listdir(tmp_path) == []  # neither the file nor its temporary: the retry writes it


def test_fsync_directory_tolerates_only_a_filesystem_that_cannot_sync_directories(tmp_path, monkeypatch):
    DiskOps(monkeypatch, fail_directory_sync=errno.EINVAL)
    fsync_directory(str(tmp_path))
    monkeypatch.undo()
    DiskOps(monkeypatch, fail_directory_sync=errno.EIO)
    with pytest.raises(OSError):
        fsync_directory(str(tmp_path))
