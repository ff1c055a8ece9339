#!/usr/bin/env bash
# Build Beam's Prism runner (a Go binary) for the installed apache_beam version,
# once, into the cache that pipelines/runners.py looks in:
#   ${WIRE_INGEST_CACHE:-$HOME/.cache/wire-ingest}/prism/<beam version>/prism
# Needs Go (1.21 or newer) and the Go module proxy; takes about two minutes on
# two cores the first time, nothing when the binary is there. The last line
# printed is `prism=PATH`, for scripts: `eval "$(deploy/local/prism.sh | tail -1)"`.
#
# Environment: PYTHON (default .venv/bin/python, else python3) to read the
# Beam version; BEAM_VERSION to name it instead; WIRE_INGEST_CACHE as above.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ -z "${BEAM_VERSION:-}" ]]; then
    python="${PYTHON:-}"
    if [[ -z "$python" ]]; then
        if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
    fi
    BEAM_VERSION="$("$python" -c 'import apache_beam; print(apache_beam.__version__)' 2>/dev/null)" || {
        echo "prism.sh: apache_beam is not importable with $python; set PYTHON or BEAM_VERSION" >&2
        exit 2
    }
fi
case "$BEAM_VERSION" in
    *[!0-9.]* | "")
        echo "prism.sh: Beam $BEAM_VERSION is not a release; set BEAM_VERSION to one (e.g. 2.77.0)" >&2
        exit 2 ;;
esac

cache="${WIRE_INGEST_CACHE:-$HOME/.cache/wire-ingest}"
dir="$cache/prism/$BEAM_VERSION"
binary="$dir/prism"
if [[ ! -x "$binary" ]]; then
    command -v go >/dev/null || {
        echo "prism.sh: Go is not on PATH; install Go 1.21 or newer to build Prism" >&2
        exit 2
    }
    echo "prism.sh: building Prism $BEAM_VERSION into $dir (about two minutes)" >&2
    mkdir -p "$dir"
    staging="$(mktemp -d "$dir/.build.XXXXXX")"
    trap 'rm -rf "$staging"' EXIT
    GOBIN="$staging" GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
        go install "github.com/apache/beam/sdks/v2/go/cmd/prism@v$BEAM_VERSION"
    mv -f "$staging/prism" "$binary"  # atomic: a reader never sees half a binary
fi
echo "prism=$binary"
