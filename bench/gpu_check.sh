#!/usr/bin/env bash
# The GPU checks of issue 15 as one prepared script, for a lent GPU machine (device tool).
# Stages ($STAGES, default all, in this order):
#   tests    the CUDA tests and the hardware-policy tests (beside the next stage, 2 threads)
#   search   the recipe search on a validation split (bench/recipes.py; bench/gpu_recipes.sh
#            is the same search as a call of its own)
#   compile  eager vs torch.compile vs CUDA graphs per training step (bench/cuda_step.py)
#   run      `dlhw run fashion --device cuda`, alone on the card, timed
# Writes at most 8 files to $OUT. Needs FashionMNIST's IDX files in $DLHW_DATA.
set -u
OUT=${OUT:-build/gpu}
STAGES=${STAGES:-tests search compile run}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 DLHW_CACHE=/tmp/dlhw-cache
export DLHW_DATA=${DLHW_DATA:-/usr/share/datasets/fashion-mnist}
PY=${PY:-python3}
has() { [[ " $STAGES " == *" $1 "* ]]; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  $PY -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)"
  lscpu | grep -E 'Model name|^CPU\(s\)|Flags'; } > "$OUT/env.txt" 2>&1
if has tests; then
  (OMP_NUM_THREADS=2 timeout 300 $PY -m pytest -q -p no:cacheprovider \
      tests/test_partc_cuda.py tests/test_partc_hardware.py > "$OUT/pytest.log" 2>&1
   echo "rc=$?" >> "$OUT/pytest.log") &
fi
if has search; then
  timeout "${SEARCH_TIMEOUT:-330}" $PY bench/recipes.py --device cuda --workers "${WORKERS:-8}" \
      --deadline "${DEADLINE:-240}" --out "$OUT" > "$OUT/search.log" 2>&1
  echo "rc=$?" >> "$OUT/search.log"
  $PY bench/recipes.py --table --out "$OUT" >> "$OUT/search.log" 2>&1
fi
if has compile; then
  timeout "${COMPILE_TIMEOUT:-200}" $PY bench/cuda_step.py > "$OUT/cuda_step.log" 2>&1
  echo "rc=$?" >> "$OUT/cuda_step.log"
fi
wait
if has run; then
  timeout "${RUN_TIMEOUT:-150}" $PY cli.py run fashion --device cuda --out /tmp/fashion-gpu \
      > "$OUT/run_fashion.log" 2>&1
  echo "rc=$?" >> "$OUT/run_fashion.log"
  cp /tmp/fashion-gpu/config.json "$OUT/fashion_config.json" 2>/dev/null
  cp /tmp/fashion-gpu/metrics.json "$OUT/fashion_metrics.json" 2>/dev/null
fi
exit 0
