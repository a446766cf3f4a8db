#!/usr/bin/env bash
# Sets everything up, builds, and runs every test (unit, integration, end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600
