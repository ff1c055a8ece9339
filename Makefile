# wire-ingest: the two commands of the README, and their helpers.
# `make demo` installs and runs the pipeline over seeds/ on the DirectRunner;
# `make test` installs the test dependencies and the engines (Apache Kafka,
# Prism, Flink), then runs the whole suite (the tests start the brokers and
# the Flink cluster they need themselves, on loopback).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out/seed

.PHONY: install engines demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: install
	rm -rf $(OUT)
	$(VENV)/bin/wire-ingest run --input seeds --output $(OUT)
	$(VENV)/bin/wire-ingest inspect $(OUT)/stories-*.avro --limit 1 | $(PY) -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(json.dumps({k: r[k] for k in ("headline","language","agencies","captions","dedup")}, ensure_ascii=False, indent=1))'

# The real engines the tests run on, built or fetched once into the cache
# (~/.cache/wire-ingest): Apache Kafka's jars (Maven), Beam's Prism runner
# (Go), Flink 1.19 (pip) and Beam's Flink job server (Maven); Debian's Chromium
# for the report page's browser test (apt-get, once).
engines: install
	deploy/local/kafka.sh install
	PYTHON=$(PY) deploy/local/prism.sh
	PYTHON=$(PY) deploy/local/flink.sh install
	deploy/local/chromium.sh

test: engines
	$(PY) -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf out build *.egg-info
