#!/usr/bin/env bash
# Configures and builds sluice with CMake + Ninja (+ ccache when present) into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
werror=OFF; [ "${CI:-}" = "true" ] && werror=ON
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DSLUICE_WERROR="$werror" "${launcher[@]}" >/dev/null
fi
cmake --build build -j"$(nproc)"
