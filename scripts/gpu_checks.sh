#!/usr/bin/env bash
# Kino's GPU checks, for a session that is lent a device machine (an H100/H200 with Python 3.12,
# torch+CUDA, transformers, opencv and peft, but no diffusers and no network).
#
#   here, once:        scripts/gpu_checks.sh --fetch-wheels     (diffusers + what it lacks there -> .whl/)
#   on the device:     run(command="bash scripts/gpu_checks.sh [STEP ...]", carry=[".whl"], timeout_s=540)
#                      (STEP names limit the run to those steps, e.g. cuda_smoke bench_animatediff)
#
# Writes into $OUT (or /tmp/kino-gpu): gpu.txt, cuda_smoke.json (tiny models through the loader and engine
# in fp16/bf16 with ControlNet, LoRA, IP-Adapter, FaceID, PuLID and AnimateDiff: finite, adapters act), bench_diffusion.json (issue 4: ratio >= 2 and
# fast_fps >= 30 at 512 px), bench_train.json (issue 7: LoRA steps/s and peak memory at SD 1.5 size),
# bench_animatediff.json (issue 16: AnimateDiff frames/s vs diffusers' pipeline, 16 frames 512 px, peak memory),
# cluster_multi_gpu.json (issue 19: one Kino worker per GPU on a local Ray cluster, frames/s on 1 and on all
# GPUs; skipped cleanly with fewer than two GPUs or without Ray), bench_flow.json (issue 15: the temporal
# stage at 1080p with RAFT on the GPU vs DIS on the CPU, s/frame), and a log per step. Each step has its own time limit so one slow step cannot eat the others.
set -u
cd "$(dirname "$0")/.."
WHEELS=("diffusers==0.42.1" "importlib_metadata==8.7.0")

if [ "${1:-}" = "--fetch-wheels" ]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
    exec python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${WHEELS[@]}"
fi

OUT=${OUT:-/tmp/kino-gpu}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || { echo "kino: installing the carried wheels failed" >&2; exit 1; }
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/backend:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, diffusers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
'diffusers', diffusers.__version__)" | tee -a "$OUT/gpu.txt" || exit 1

ONLY=" $* "
step() {  # step NAME LIMIT_S COMMAND...: stdout's last line (the JSON) -> NAME.json, the rest -> NAME.log
    local name=$1 limit=$2; shift 2
    if [ "$ONLY" != "  " ] && [[ "$ONLY" != *" $name "* ]]; then return; fi
    echo "== $name (limit ${limit}s)"
    timeout "$limit" "$@" > "$OUT/$name.out" 2> "$OUT/$name.log"
    local rc=$?
    tail -n 1 "$OUT/$name.out" > "$OUT/$name.json"
    echo "$name rc=$rc: $(cat "$OUT/$name.json")"
}
step cuda_smoke 120 python3 scripts/gpu_smoke.py
step bench_diffusion 300 python3 -m kino_backend bench diffusion --json
step bench_train 180 python3 -m kino_backend bench train --json
step bench_animatediff 240 python3 -m kino_backend bench animatediff --json
step cluster_multi_gpu 240 python3 scripts/gpu_cluster_check.py
step bench_flow 180 python3 scripts/gpu_flow_check.py
