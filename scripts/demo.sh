#!/usr/bin/env bash
# Quick start, part one: build zinfer and run the embedded demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
build/zinfer demo
