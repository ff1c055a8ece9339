"""Connectors: Kafka (source, offset commits, sinks), files, drop folders, Avro sinks, replay.

In: the outside world (brokers, folders, files). Out: ``RawInput`` records
in, ``Story`` / ``DeadLetter`` records out. Every module here owns one
system or role; story logic lives elsewhere.
"""
