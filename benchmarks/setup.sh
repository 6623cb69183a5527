#!/usr/bin/env bash
# Create benchmarks/.venv (MLflow) and benchmarks/.venv-bentoml (BentoML): the peers the
# benchmarks compare Slipway against; and install wrk, the serving benchmark's load generator.
# Idempotent: re-running only installs what changed in the requirements files.
# The peers live only here; Slipway's own .venv (make demo / make test) is never touched.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

# One environment per requirements file: MLflow's pins and BentoML's need not agree.
install_env() {
    local venv="$1" requirements="$2"
    if [[ ! -x "$venv/bin/python" ]]; then
        "$python" -m venv "$venv"
    fi
    if [[ ! -x "$venv/bin/uv" ]]; then
        "$venv/bin/pip" install -q uv
    fi
    "$venv/bin/uv" pip install -q --python "$venv/bin/python" -r "$requirements"
    # Write the .pyc files now, as pip does on install and uv does not by default: without
    # them (and with PYTHONDONTWRITEBYTECODE set) every interpreter compiles mlflow from
    # source again, which MLflow pays inside log_model (its requirement inference starts a
    # fresh interpreter), making it look several times slower than users see it.
    "$venv/bin/python" -m compileall -q -j 0 "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null || true
    echo "peers installed in $venv:"
    "$venv/bin/uv" pip freeze --python "$venv/bin/python" | grep -iE '^(mlflow|bentoml|scikit-learn|pandas)=='
}

install_env "$venv" "$here/requirements.txt"
install_env "$here/.venv-bentoml" "$here/requirements-bentoml.txt"

# The serving benchmark's load generator: Debian's wrk.
if ! command -v wrk >/dev/null; then
    sudo_cmd=""
    if [[ "$(id -u)" != 0 ]]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get install -y -q wrk >/dev/null
fi
