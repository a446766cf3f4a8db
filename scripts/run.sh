#!/usr/bin/env bash
# Sets everything up, builds, and runs the gateway on its embedded default
# (configured from OPENAI_API_KEY / OPENAI_BASE_URL, port 1975). Extra args go to `sluice run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/sluice run "$@"
