#!/usr/bin/env bash
# The vLLM stack on one GPU, in under 8 minutes (each step has a time limit; they sum to 7.5 min):
#   1. smoke: `finebench run --backend vllm` on the tiny model (and --backend hf on the same items)
#   2. items/s and peak GPU memory of vllm vs hf (batch 2, as the paper's script) on a random-weight
#      model of the real Qwen2.5-VL-3B architecture, same items, every response forced to 64 tokens
#   3. one TAPO step with TRL's vLLM colocate mode on the tiny model
# Needs no hub and no data set. Exit status: 0 all passed, 1 a step failed, 2 no GPU or no vllm.
#
#   bash benchmarks/gpu_check.sh [VENV]
#
# VENV [default .venv-vllm] holds the GPU stack: vllm 0.33.0, torch 2.14.0, torchvision 0.29.0,
# transformers 5.20.2 (README, "GPU machines").
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-vllm}
PY=$VENV/bin/python
if [ ! -x "$PY" ]; then
    echo "gpu_check: no Python at $PY. Install the GPU stack first:" >&2
    echo "  python3 -m venv $VENV && $VENV/bin/pip install torch==2.14.0 torchvision==0.29.0 -e '.[vllm,test]'" >&2
    exit 2
fi
"$PY" - <<'EOF' || exit 2
import importlib.metadata as m
import importlib.util
import sys

import torch

if importlib.util.find_spec("vllm") is None:
    sys.exit("gpu_check: vllm is not installed in this environment (pip install -e '.[vllm,test]')")
if not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA GPU is visible (torch.cuda.is_available() is False); this check needs one")
free, total = torch.cuda.mem_get_info()
print(f"gpu_check: {torch.cuda.get_device_name()} ({total / 2**30:.0f} GiB, {free / 2**30:.0f} GiB free); "
      + ", ".join(f"{p} {m.version(p)}" for p in ("vllm", "torch", "transformers", "trl")))
EOF

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILED=()
START=$SECONDS

# step NAME LIMIT_S COMMAND...: runs the command under a time limit and reports how it ended.
step() {
    local name=$1 limit=$2
    shift 2
    echo
    echo "== $name (limit ${limit}s)"
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" bash -c '"$@"' "$name" "$@"  # bash -c: the command may be a function below
    local rc=$?
    if [ $rc -eq 0 ]; then
        echo "-- $name: ok in $((SECONDS - t0))s"
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "-- $name: FAILED, timed out after ${limit}s"
        FAILED+=("$name")
    else
        echo "-- $name: FAILED (exit $rc) after $((SECONDS - t0))s"
        FAILED+=("$name")
    fi
}

smoke() {
    "$PY" -c "from pathlib import Path; from finebench.data.demo import write_demo_data_root; write_demo_data_root(Path('$WORK/data'), items_per_file=4)" || return 1
    local backend
    for backend in vllm hf; do
        "$VENV/bin/finebench" run --backend "$backend" --model tiny-qwen2.5-vl --tasks cub_closed_seen,cub_open_seen \
            --data-root "$WORK/data" --limit 4 --trials 1 --metrics accuracy,inclusion --output-path "$WORK/smoke-$backend" || return 1
    done
    "$PY" - "$WORK" <<'EOF'
import json
import sys
from pathlib import Path

work = Path(sys.argv[1])
runs = {b: json.loads((work / f"smoke-{b}" / "results.json").read_text()) for b in ("vllm", "hf")}
assert runs["vllm"]["model"]["adapter"] == "vllm", runs["vllm"]["model"]
same = total = 0
for task in ("cub_closed_seen", "cub_open_seen"):
    rows = {b: sorted((json.loads(line) for line in (work / f"smoke-{b}" / f"samples_{task}.jsonl").read_text().splitlines()),
                      key=lambda r: r["doc_id"]) for b in runs}
    assert runs["vllm"]["results"][task]["n_errors"] == 0, f"vllm errors on {task}"
    assert all(r["response"] for r in rows["vllm"]), f"empty vllm responses on {task}"
    same += sum(a["response"] == b["response"] for a, b in zip(rows["vllm"], rows["hf"], strict=True))
    total += len(rows["vllm"])
    print(f"smoke: {task}: {len(rows['vllm'])} items, vllm response of item 0: {rows['vllm'][0]['response'][:60]!r}")
print(f"smoke: vllm and hf gave the same response on {same}/{total} items (greedy, float32 tiny model)")
EOF
}

tapo() {
    "$PY" - "$WORK" <<'EOF' || return 1
import sys
from pathlib import Path

import yaml

sys.path.insert(0, ".")
from finebench.models.tiny import build_tiny_qwen25vl
from tests.fakes import write_tapo_triplets

work = Path(sys.argv[1])
(work / "tapo-data").mkdir()
recipe = {
    "model": str(build_tiny_qwen25vl(work / "tiny")), "train_data": str(write_tapo_triplets(work / "tapo-data")),
    "output_dir": str(work / "tapo-out"), "n_anchor": 2, "n_positive": 2, "per_device_train_batch_size": 4,
    "max_completion_length": 16, "max_resample_rounds": 2, "save_steps": 1, "max_steps": 1,
    "use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.2,
}
(work / "tapo.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
EOF
    "$VENV/bin/finebench" train tapo --config "$WORK/tapo.yaml" || return 1
    "$PY" - "$WORK" <<'EOF'
import json
import sys
from pathlib import Path

state = json.loads((Path(sys.argv[1]) / "tapo-out" / "checkpoint-1" / "trainer_state.json").read_text())
(logged,) = [entry for entry in state["log_history"] if "loss" in entry]
keys = ("loss", "reward", "completions/mean_length", "tapo/inter_class_kl", "tapo/kept_groups")
print("tapo: step 1 with vLLM colocate generation: " + ", ".join(f"{k} {logged.get(k)}" for k in keys))
EOF
}

export -f smoke tapo
export PY VENV WORK
step "1/3 vllm smoke (tiny model, finebench run --backend vllm)" 110 smoke
step "2/3 vllm vs hf on the random Qwen2.5-VL-3B" 240 \
    "$PY" benchmarks/bench_vllm_vs_hf.py --random-size qwen2.5-vl-3b --cache "$WORK/models" --limit 64 --new-tokens 64
step "3/3 TAPO step with TRL vLLM colocate (tiny model)" 100 tapo

echo
echo "gpu_check: $((SECONDS - START))s in all"
if [ ${#FAILED[@]} -gt 0 ]; then
    printf 'gpu_check: FAILED: %s\n' "${FAILED[@]}"
    exit 1
fi
echo "gpu_check: all 3 steps passed"
