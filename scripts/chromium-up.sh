#!/usr/bin/env bash
# Make sure Debian's Chromium is installed (the browser tests drive it with Playwright through
# its executable path; Playwright never downloads a browser). Idempotent; prints its path.
set -euo pipefail
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null 2>&1; then
    echo "chromium-up: installing chromium from Debian" >&2
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >&2
fi
command -v chromium
