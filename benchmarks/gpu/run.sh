#!/bin/bash
# One prepared GPU check, for a machine lent for a few minutes. From the project's root there:
#   WHEELS=.whl OUT=/some/dir bash benchmarks/gpu/run.sh
# 1. installs the carried wheels (benchmarks/gpu/fetch_wheels.sh) into /tmp/site;
# 2. benchmarks/bench_train.py --device cuda --json --sweep  -> $OUT/bench_train.json
# 2b. benchmarks/bench_augment.py --device cuda --json: per-image cost of training images computed per
#    batch (signal augmentation) against the cache  -> $OUT/bench_augment.json
# 3. the MathWorks-size workflow (config/mathworks-size.yaml: 1,620 images, 3 backbones x 5 folds
#    x 10 epochs) from nothing to the report, timed, once per GPU-slot setting in SLOTS
#    (default "1 3": one train job at a time, then three sharing the GPU) -> $OUT/workflow_*.log,
#    $OUT/dmon_*.txt (nvidia-smi utilisation), $OUT/summary.txt
set -u
export PYTHONUNBUFFERED=1
out=${OUT:-gpu-out}; mkdir -p "$out"
if [ -d "${WHEELS:-.whl}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    "${WHEELS:-.whl}"/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$PWD/src PATH=/tmp/site/bin:$PATH
else
  export PYTHONPATH=$PWD/src
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; nproc; } | tee "$out/summary.txt"
# 3 paired rounds (a warm-up job + 4 jobs + 3 bare steps per backbone): the default 5 would need
# 2 more jobs per backbone inside the same time limit
timeout -k 10 "${BENCH_LIMIT:-200}" python3 benchmarks/bench_train.py --device cuda --json --sweep --rounds 3 \
  > "$out/bench_train.json" 2> "$out/bench_train.err"
echo "bench_train exit $?" | tee -a "$out/summary.txt"
timeout -k 10 "${AUG_LIMIT:-120}" python3 benchmarks/bench_augment.py --device cuda --threads 4 --json \
  > "$out/bench_augment.json" 2> "$out/bench_augment.err"
echo "bench_augment exit $?" | tee -a "$out/summary.txt"
for slots in ${SLOTS:-1 3}; do
  rm -rf results resources logs .snakemake
  nvidia-smi dmon -s u -d 1 > "$out/dmon_$slots.txt" 2>&1 & dm=$!
  t=$(date +%s.%N)
  timeout -k 10 "${WF_LIMIT:-300}" snakemake --cores all --resources gpu="$slots" \
    --configfile config/mathworks-size.yaml > "$out/workflow_$slots.log" 2>&1
  rc=$?
  echo "workflow gpu slots $slots: exit $rc, $(python3 -c "import time; print(round(time.time() - $t, 1))") s" \
    | tee -a "$out/summary.txt"
  kill $dm 2>/dev/null
  cat results/report/summary.csv >> "$out/summary.txt" 2>/dev/null
  python3 - "$out/summary.txt" <<'PY'
import glob, json, sys
rows = []
for p in sorted(glob.glob("results/models/*/fold*/metrics.json")):
    m = json.load(open(p)); t = m["timing"]; f = m["learner"]
    rows.append(f"{f['backbone']} fold {m['fold']}: {t['total_s']:.1f} s, start-up {t['process_startup_s']:.1f} s, "
                f"train {t.get('train_s', 0):.1f} s, {f['precision']}, channels_last {f['channels_last']}")
open(sys.argv[1], "a").write("\n".join(rows) + "\n")
PY
done
cat "$out/summary.txt"
