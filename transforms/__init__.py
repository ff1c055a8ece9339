"""wire-ingest's transforms, by concern: io/, formats/, normalize/, language/, dedup/,
model/ (records and coders), and the chain (parse, enrich, process, text).

In: ``RawInput`` records. Out: ``Story`` and ``DeadLetter`` records.
Nothing here imports ``pipelines``. See docs/architecture.md.
"""
