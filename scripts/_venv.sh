# Sourced by scripts/run and scripts/test: make sure .venv holds BillFlow with the given extra.
# Re-installs only when pyproject.toml changed since the last install (or the venv is missing).
ensure_venv() {
    local extra="$1" root venv stamp
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    venv="${BILLFLOW_VENV:-$root/.venv}"
    stamp="$venv/.billflow-installed-$extra"
    if [ ! -x "$venv/bin/python" ]; then
        echo "==> creating $venv" >&2
        python3 -m venv "$venv"
    fi
    if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
        echo "==> installing billflow[$extra] into $venv" >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[$extra]" >&2
        touch "$stamp"
    fi
    VENV="$venv"
    ROOT="$root"
}
