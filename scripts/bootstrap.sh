# Sourced by scripts/cnpj-duck, scripts/test and scripts/lock: makes .venv with the tested versions of the
# dependencies (requirements.lock, checked against its hashes) and the project installed editable. Reinstalls when
# pyproject.toml or requirements.lock is newer than the last install. Needs only python3 (>= 3.11) on the machine.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.installed"
lock="$root/requirements.lock"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ] \
        || [ "$lock" -nt "$stamp" ]; then
    py="${PYTHON:-python3}"
    if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "cnpj-duck needs Python 3.11 or newer as '$py' (set PYTHON=/path/to/python3.11)" >&2
        exit 2
    fi
    echo "setting up $venv (first run only)..." >&2
    "$py" -m venv "$venv" >&2 || { echo "could not create $venv (on Debian: apt-get install python3-venv)" >&2; exit 2; }
    pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
    "${pip[@]}" --upgrade pip >&2
    # The locked versions first (every file's hash checked), then the project alone: pip resolves nothing itself.
    "${pip[@]}" --require-hashes -r "$lock" >&2
    "${pip[@]}" --no-deps -e "$root" >&2
    touch "$stamp"
fi
