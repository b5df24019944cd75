#!/usr/bin/env bash
# Quick start, part two: build zinfer and run the whole test suite.
# The first run also exports the PyTorch test models (about half a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
