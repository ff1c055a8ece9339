#!/usr/bin/env bash
# Debian's Chromium, the headless browser tests/test_report_browser.py renders
# the run report's HTML page in. Idempotent: does nothing when `chromium` is on
# PATH; otherwise installs the Debian package (as root, or with sudo).
# The last line printed is `chromium=PATH`.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1; then
    if [[ "$(id -u)" -eq 0 ]]; then sudo=""; else sudo="sudo"; fi
    echo "chromium.sh: installing Debian's chromium package" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
echo "chromium=$(command -v chromium)"
