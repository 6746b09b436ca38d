#!/usr/bin/env bash
# Set up everything the tests need, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
exec "${PYTHON:-python3}" -m pytest -n 2 --dist loadfile "$@"
