#!/usr/bin/env bash
# Set up dlhw on this machine: Debian packages (data, TeX, the headless browser tests/test_site.py
# drives, the PostgreSQL server tests/test_search_optuna.py starts) where we may install them,
# then the Python package into the active interpreter.
# Usage: scripts/setup.sh [core|nets|dev] (default dev).
set -euo pipefail
cd "$(dirname "$0")/.."
layer=${1:-dev}

debs=(dataset-fashion-mnist bubblewrap texlive-latex-base texlive-latex-recommended texlive-fonts-recommended
      texlive-publishers latexmk poppler-utils chromium chromium-driver postgresql)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "$layer" != core ] && [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: cannot install ${missing[*]} (needs root and apt-get); data and PDF steps will say so" >&2
  fi
fi

py=${PYTHON:-python3}
case "$layer" in
  core) extra="" ;;
  nets|dev) extra="[$layer]" ;;
  *) echo "setup: unknown layer '$layer' (expected core, nets or dev)" >&2; exit 2 ;;
esac
"$py" -m pip install -q --disable-pip-version-check -e ".$extra" 2>&1 | grep -v "as the 'root' user" || true
"$py" -c "import cli" >/dev/null
echo "setup: dlhw installed ($layer)"
