#!/usr/bin/env bash
# Part 4's search with one GPU worker against an SQLite file, for a lent GPU machine: prints the
# seconds of the whole command, of the trials, and the GPU. Untested here (no GPU on the 2-core
# development machine); about a minute of device time for the quick search.
#   bash bench/search_gpu.sh            # the quick search (dlhw run search --quick)
#   FULL=1 bash bench/search_gpu.sh     # the full grids (minutes)
# Writes the run folder and the storage under $OUT (default build/search-gpu). Needs
# FashionMNIST's IDX files in $DLHW_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/search-gpu}
PY=${PY:-python3}
export PYTHONUNBUFFERED=1 DLHW_DATA=${DLHW_DATA:-/usr/share/datasets/fashion-mnist}
rm -rf "$OUT" && mkdir -p "$OUT"
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
quick=--quick; [ -n "${FULL:-}" ] && quick=
start=$(date +%s.%N)
$PY cli.py run search $quick --device cuda --workers 1 --storage "sqlite:///$PWD/$OUT/search.db" \
    --study gpu --out "$OUT/run" > "$OUT/run.log" 2>&1 || { tail -20 "$OUT/run.log"; exit 1; }
end=$(date +%s.%N)
$PY cli.py search status --storage "sqlite:///$PWD/$OUT/search.db" --study gpu > "$OUT/status.txt"
$PY - "$OUT/run" "$start" "$end" <<'EOF'
import json, sys
run, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
m = json.load(open(f"{run}/metrics.json"))
c = json.load(open(f"{run}/config.json"))
trials = sum(v for k, v in m.items() if k.endswith(".wall_seconds"))
print(f"search on {c['hardware'].get('gpu', c['hardware']['device'])}, one worker: "
      f"{end - start:.1f} s for the command, {trials:.1f} s of trials")
for k in sorted(m):
    if k.endswith((".wall_seconds", ".best_cv_mean", ".test_score")):
        print(f"  {k:<40} {m[k]:.4g}")
EOF
