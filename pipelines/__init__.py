"""wire-ingest's entry points: the CLI, the options, the graph, runner selection
and the Flink tools. Depends on ``transforms``; nothing there depends on it.
"""
