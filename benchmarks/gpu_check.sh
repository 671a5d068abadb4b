#!/usr/bin/env bash
# GPU checks in one prepared run of at most ~8 minutes, for a session that is lent a GPU (nothing else runs it;
# no test depends on it). From the repository root:
#
#     bash benchmarks/gpu_check.sh            # writes logs and runs under $OUT (default: a new temp folder)
#
# 1. `trainer=gpu` fits (embedded synthetic data, one short epoch + evaluation) in bf16-mixed and in 16-mixed;
# 2. a 1-GPU `trainer=ddp` fit;
# 3. training throughput, FusionModule vs the hand-written loop (bench_training's model, loss and batches)
#    in 32-true / bf16-mixed / 16-mixed (16-mixed must run with a gradient scaler);
# 4. fuse throughput (model forward and the real fuse path, 640x480) and metric throughput on the GPU.
# Prints one table at the end; every step has its own time limit, and steps that would pass the overall
# budget are skipped (and say so), so the script always ends with the table.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python
OUT=${OUT:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
ROWS="$OUT/rows"
BUDGET_S=${BUDGET_S:-470}
mkdir -p "$ROWS"
export HF_HUB_OFFLINE=1 WANDB_MODE=offline NO_ALBUMENTATIONS_UPDATE=1 PYTHONUNBUFFERED=1
T0=$(date +%s)

FIT=(+experiment=ivif_zero_shot data.mode=synthetic logger=csv "methods=[average]" trainer.max_epochs=1
     data.samples_per_epoch=512 data.batch_size=16 data.patch_size=64 ++trainer.limit_val_batches=2
     ++trainer.limit_test_batches=2 data.options.synthetic.eval_size=128)

# step NN NAME LIMIT_S CMD...: run CMD with a time limit; one table row from its exit status and time.
step() {
    local nn=$1 name=$2 limit=$3
    shift 3
    local now left
    now=$(date +%s)
    left=$((BUDGET_S - (now - T0)))
    if [ "$left" -lt 20 ]; then
        echo "| $name | skipped | overall budget of ${BUDGET_S} s spent |" > "$ROWS/$nn.row"
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== $name (limit ${limit} s)"
    GPU_CHECK_ROWS="$ROWS/$nn-detail.row" timeout "$limit" "$@" > "$OUT/$nn.log" 2>&1
    local rc=$? took=$(($(date +%s) - now))
    local status="ok"
    [ $rc -eq 124 ] && status="TIMEOUT"
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && status="FAILED rc=$rc: $(grep -E 'error|Error' "$OUT/$nn.log" | tail -1 | cut -c1-120)"
    echo "| $name | $status | ${took} s, log $OUT/$nn.log |" > "$ROWS/$nn.row"
    tail -3 "$OUT/$nn.log"
}

# fit NN NAME OVERRIDES...: a short training run; ok only when it also wrote results.csv.
fit() {
    local nn=$1 name=$2
    shift 2
    step "$nn" "$name" 100 "$PY" -m fusionlab.train "${FIT[@]}" "hydra.run.dir=$OUT/run_$nn" "$@"
    if grep -q "| ok |" "$ROWS/$nn.row" && [ ! -f "$OUT/run_$nn/results.csv" ]; then
        sed -i 's/| ok |/| FAILED: no results.csv |/' "$ROWS/$nn.row"
    fi
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} | tee "$OUT/env.txt"
echo "| environment | $(tr '\n' ' ' < "$OUT/env.txt") | |" > "$ROWS/00.row"

fit 10 "fit trainer=gpu, bf16-mixed" trainer=gpu trainer.precision=bf16-mixed
fit 11 "fit trainer=gpu, 16-mixed (gradient scaler)" trainer=gpu trainer.precision=16-mixed
fit 12 "fit trainer=ddp, 1 GPU" trainer=ddp trainer.accelerator=gpu trainer.devices=1
step 20 "training throughput (gpu_check.py train)" 110 "$PY" benchmarks/gpu_check.py train
step 30 "fuse throughput (gpu_check.py fuse)" 60 "$PY" benchmarks/gpu_check.py fuse
step 40 "metric throughput (gpu_check.py metrics)" 60 "$PY" benchmarks/gpu_check.py metrics

"$PY" benchmarks/gpu_check.py table "$ROWS"
echo "total $(($(date +%s) - T0)) s; logs under $OUT"
