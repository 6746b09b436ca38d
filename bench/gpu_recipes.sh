#!/usr/bin/env bash
# Issue 27's recipe comparison as one prepared call for a lent GPU machine (device tool):
# bench/recipes.py's candidates, each trained for the epochs that fit the 2-core CPU's budget
# (bench/recipe_costs.json, measured with `python bench/recipes.py --cost`), $WORKERS processes
# sharing the card, $SEEDS seeds each, scored on 10,000 held-out training images (never the
# test set). Ends inside 7 minutes even where not every candidate finishes: no new run starts
# after $DEADLINE s, the search is stopped at $SEARCH_TIMEOUT s, and the table is printed from
# the runs that finished (each is written to search.jsonl as it ends).
# Writes to $OUT: env.txt, search.log, search.jsonl, table.txt, table.json.
# FashionMNIST's four IDX .gz files: $DLHW_DATA, else Debian's folder, else ./.gpu-data (before
# the call: mkdir .gpu-data && cp /usr/share/datasets/fashion-mnist/*.gz .gpu-data/, 30 MB; an
# untracked folder travels with the working tree, an ignored one must be named in carry).
set -u
OUT=${OUT:-build/gpu-recipes}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 DLHW_CACHE=/tmp/dlhw-cache
if [[ -z "${DLHW_DATA:-}" ]]; then
  if [[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
    DLHW_DATA=/usr/share/datasets/fashion-mnist
  else
    DLHW_DATA=$PWD/.gpu-data
  fi
fi
export DLHW_DATA
PY=${PY:-python3}
{ date; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  $PY -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)"
  lscpu | grep -E 'Model name|^CPU\(s\)'; echo "DLHW_DATA=$DLHW_DATA"; ls "$DLHW_DATA"
} > "$OUT/env.txt" 2>&1
timeout "${SEARCH_TIMEOUT:-390}" $PY bench/recipes.py --device "${DEVICE:-cuda}" \
    --workers "${WORKERS:-8}" --seeds "${SEEDS:-2}" --deadline "${DEADLINE:-300}" \
    --out "$OUT" ${EXTRA:-} > "$OUT/search.log" 2>&1
echo "rc=$?" >> "$OUT/search.log"
$PY bench/recipes.py --table --seeds "${SEEDS:-2}" --out "$OUT" > "$OUT/table.txt" 2>&1
cat "$OUT/table.txt"
exit 0
