#!/usr/bin/env bash
# Installs what is missing, then configures and builds zinfer into build/.
# Extra arguments go to cmake's configure step (e.g. -DZI_SANITIZE=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build_dir=${ZI_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "$@" > /dev/null
cmake --build "$build_dir" -j "$(nproc)"
