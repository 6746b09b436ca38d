#!/usr/bin/env bash
# dlhw's Gradescope autograder, set-up step. Gradescope runs this once, as root, when it builds
# the autograder image (after apt-get update), with this bundle unpacked in $ROOT/source.
#
#   AUTOGRADER_ROOT     the autograder folder (default /autograder; tests point it elsewhere)
#   DLHW_SKIP_APT=1     skip the Debian/Ubuntu packages (tests, or an image that has them)
#   DLHW_PYTHON         interpreter that creates the virtual environment (default python3)
#   DLHW_VENV_ARGS      extra `python -m venv` options (tests: --without-pip)
#   DLHW_SITE_PACKAGES  folders (':'-separated) whose packages the grader's environment may use,
#                       through a .pth file (tests: the suite's own, so an offline pip finds
#                       torch there)
#   DLHW_STUDENT_SITE_PACKAGES  the same for the students' environment (tests: a folder holding
#                       only the homework's packages)
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
torch_index=(--extra-index-url https://download.pytorch.org/whl/cpu)  # the CPU build: no GPU here
pth() {  # venv folders: a .pth file in the venv's site-packages naming them
  site=$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  tr ':' '\n' <<<"$2" > "$site/dlhw-site-packages.pth"
}
# Two environments (issue: the student's runtime holds no dlhw). The students' holds only what
# the homework's code imports (student-requirements.txt) and stays readable by the uid student
# code runs as; the grader's adds dlhw, its specs, references and hidden checks, on top of it
# (so torch is installed once), and only root can read it.
# No pip or setuptools of its own: the interpreter's pip installs into it (pip --python).
"$PY" -m venv --without-pip "$ROOT/student-venv"
[ -z "${DLHW_STUDENT_SITE_PACKAGES:-}" ] || pth "$ROOT/student-venv" "$DLHW_STUDENT_SITE_PACKAGES"
"$PY" -m pip --python "$ROOT/student-venv/bin/python" install -q --disable-pip-version-check \
  "${torch_index[@]}" -r "$SRC/student-requirements.txt"
"$ROOT/student-venv/bin/python" -I -c "import numpy, torch, sklearn, matplotlib"
chmod -R a+rX "$ROOT/student-venv"

"$PY" -m venv ${DLHW_VENV_ARGS:-} "$ROOT/venv"
student_site=$("$ROOT/student-venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
pth "$ROOT/venv" "$student_site${DLHW_SITE_PACKAGES:+:$DLHW_SITE_PACKAGES}"
"$ROOT/venv/bin/python" -m pip install -q --disable-pip-version-check "${torch_index[@]}" \
  "${wheels[0]}[nets]"
"$ROOT/venv/bin/python" -I -c "import cli, grader.autograder, torch"
chmod 700 "$ROOT/venv"
echo "setup: dlhw installed in $ROOT/venv (root only); students' environment $ROOT/student-venv"
