#!/usr/bin/env bash
# dlhw's Gradescope autograder, set-up step. Gradescope runs this once, as root, when it builds
# the autograder image (after apt-get update), with this bundle unpacked in $ROOT/source.
#
#   AUTOGRADER_ROOT     the autograder folder (default /autograder; tests point it elsewhere)
#   DLHW_SKIP_APT=1     skip the Debian/Ubuntu packages (tests, or an image that has them)
#   DLHW_PYTHON         interpreter that creates the virtual environment (default python3)
#   DLHW_VENV_ARGS      extra `python -m venv` options (tests: --without-pip)
#   DLHW_SITE_PACKAGES  folders (':'-separated) whose packages the environment may use, through
#                       a .pth file (tests: the suite's own, so an offline pip finds torch there)
#   PIP_*               pip's own settings (tests: PIP_NO_INDEX=1, offline)
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SRC="$ROOT/source"
PY="${DLHW_PYTHON:-python3}"

if [ "${DLHW_SKIP_APT:-0}" != 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # The interpreter and venv, pdflatex with IEEEtran and Times (the report), poppler (its PDF).
  apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip util-linux \
    texlive-latex-base texlive-latex-recommended texlive-fonts-recommended texlive-publishers \
    latexmk poppler-utils
  # The FashionMNIST test set for measuring models; without it that item says it was not run.
  apt-get install -y -qq --no-install-recommends dataset-fashion-mnist \
    || echo "setup: dataset-fashion-mnist is not in this image's archive: FashionMNIST models will not be measured" >&2
fi

# dlhw needs Python 3.11 or newer (what its tests run on); Gradescope's default Ubuntu 22.04
# image has 3.10.
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  have=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none)
  echo "setup: dlhw needs Python >= 3.11 but $PY is $have: choose Gradescope's Ubuntu 24.04 base image (Python 3.12) on the Configure Autograder page" >&2
  exit 1
fi

wheels=("$SRC"/dlhw-*.whl)
"$PY" -m venv ${DLHW_VENV_ARGS:-} "$ROOT/venv"
if [ -n "${DLHW_SITE_PACKAGES:-}" ]; then
  site=$("$ROOT/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  tr ':' '\n' <<<"$DLHW_SITE_PACKAGES" > "$site/dlhw-site-packages.pth"
fi
# torch's CPU build (the grader needs no GPU): its own index, as pytorch.org documents.
"$ROOT/venv/bin/python" -m pip install -q --disable-pip-version-check \
  --extra-index-url https://download.pytorch.org/whl/cpu "${wheels[0]}[nets]"
"$ROOT/venv/bin/python" -I -c "import cli, grader.autograder, torch"
echo "setup: dlhw installed in $ROOT/venv"
