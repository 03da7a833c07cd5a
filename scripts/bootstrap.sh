# Sourced by scripts/cnpj-duck and scripts/test: makes .venv with the project and its test tools installed.
# Reinstalls when pyproject.toml is newer than the last install. Needs only python3 (>= 3.11) on the machine.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.installed"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
    py="${PYTHON:-python3}"
    if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "cnpj-duck needs Python 3.11 or newer as '$py' (set PYTHON=/path/to/python3.11)" >&2
        exit 2
    fi
    echo "setting up $venv (first run only)..." >&2
    "$py" -m venv "$venv" >&2 || { echo "could not create $venv (on Debian: apt-get install python3-venv)" >&2; exit 2; }
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[test]" >&2
    touch "$stamp"
fi
