"""Learning curves on the CPU: does the training stack learn? (data -> SFT -> TAPO, and a control)

The tiny offline Qwen2.5-VL is trained on the synthetic compositional benchmark through the real
commands (``finebench data synth``, ``finebench train sft``, ``finebench train tapo``) and scored
by ``finebench run`` before and after each stage. Expected, on data where the answer is known:

- SFT lifts closed-world accuracy on seen classes far above the 25% of chance, and on unseen
  classes (new compositions of seen attributes) above chance;
- TAPO raises the reward it optimises, measured on a fixed set of training prompts (the per-step
  training reward moves with which prompts were drawn), and does not lower seen accuracy;
- a negative control, the same TAPO run with every advantage's sign flipped, lowers that reward.

Writes ``OUT/learning.json`` (every number), ``OUT/learning.md`` (the table) and
``OUT/learning.png`` (the curves), and prints the table. About 10 minutes on 2 cores.

    python benchmarks/bench_learning.py --out finebench-out/learning
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASKS = ("synth_closed_seen", "synth_closed_unseen", "synth_open_seen", "synth_open_unseen")
STAGES = ("base", "sft", "tapo", "control")


def finebench(*args: str) -> float:
    """Run one finebench command as a user would; returns its wall time in seconds."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "finebench", *args], cwd=REPO, capture_output=True, text=True)
    if result.returncode:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"finebench {' '.join(args[:3])} ... failed with exit code {result.returncode}")
    return time.perf_counter() - start


def evaluate(model_dir: Path, data_root: Path, out: Path) -> tuple[dict[str, float], float]:
    seconds = finebench("run", "--model", f"hf:{model_dir}", "--tasks", ",".join(TASKS), "--data-root",
                        str(data_root), "--metrics", "accuracy,inclusion", "--output-path", str(out))
    results = json.loads((out / "results.json").read_text())["results"]
    scores = {task: results[task].get("accuracy", results[task].get("inclusion")) for task in TASKS}
    return scores, seconds


def reward_curve(checkpoint: Path) -> list[float]:
    history = json.loads((checkpoint / "finebench_tapo.json").read_text())["log_history"]
    return [float(entry["reward"]) for entry in history if "reward" in entry]


def sft_loss_curve(checkpoint: Path) -> list[float]:
    history = json.loads((checkpoint / "finebench_sft.json").read_text())["log_history"]
    return [float(entry["loss"]) for entry in history if "loss" in entry]


def run(out: Path, reward_prompts: int) -> dict:
    from finebench.data.formats import load_stage2
    from finebench.models.builtin import resolve_builtin
    from finebench.training.rollout_eval import fixed_prompts, sampled_reward

    data_root = out / "data"
    times = {"data": finebench("data", "synth", "--data-root", str(data_root))}
    stage1 = data_root / "synth" / "sft" / "synth-stage1.json"
    stage2 = data_root / "synth" / "tapo" / "synth-stage2.json"
    checkpoints = {"base": resolve_builtin("tiny-qwen2.5-vl"), "sft": out / "sft", "tapo": out / "tapo",
                   "control": out / "control"}
    times["sft"] = finebench("train", "sft", "--config", "training/synth-sft.yaml", f"data_files={stage1}",
                             f"image_root={data_root}", f"output_dir={checkpoints['sft']}")
    tapo = ["train", "tapo", "--config", "training/synth-tapo.yaml", f"model={checkpoints['sft']}",
            f"train_data={stage2}", f"image_root={data_root}"]
    times["tapo"] = finebench(*tapo, f"output_dir={checkpoints['tapo']}")
    times["control"] = finebench(*tapo, f"output_dir={checkpoints['control']}", "negate_advantages=true")

    scores = {}
    for stage in STAGES:
        scores[stage], times[f"eval {stage}"] = evaluate(checkpoints[stage], data_root, out / "eval" / stage)
    prompts = fixed_prompts(load_stage2(stage2, image_root=data_root), reward_prompts)
    rewards = {}
    for stage in ("sft", "tapo", "control"):
        start = time.perf_counter()
        rewards[stage] = vars(sampled_reward(checkpoints[stage], prompts))
        times[f"reward {stage}"] = time.perf_counter() - start
    return {
        "scores": scores, "fixed_prompt_reward": rewards, "times_s": times,
        "curves": {"sft_loss": sft_loss_curve(checkpoints["sft"]), "tapo_reward": reward_curve(checkpoints["tapo"]),
                   "control_reward": reward_curve(checkpoints["control"])},
        "chance_closed": 25.0, "reward_prompts": len(prompts),
    }


def table(report: dict) -> str:
    header = "| stage | " + " | ".join(TASKS) + " | reward on fixed prompts (accuracy) |"
    lines = [header, "|" + "---|" * (len(TASKS) + 2)]
    for stage in STAGES:
        reward = report["fixed_prompt_reward"].get(stage)
        shown = f"{reward['reward']:.3f} ({reward['accuracy']:.3f})" if reward else "–"
        lines.append(f"| {stage} | " + " | ".join(f"{report['scores'][stage][t]:.2f}" for t in TASKS) + f" | {shown} |")
    return "\n".join(lines) + "\n"


def moving_average(values: list[float], width: int = 10) -> list[float]:
    return [sum(values[max(0, i - width + 1): i + 1]) / len(values[max(0, i - width + 1): i + 1])
            for i in range(len(values))]


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axis, reward_axis, score_axis) = plt.subplots(1, 3, figsize=(15, 4.2))
    loss_axis.plot(report["curves"]["sft_loss"])
    loss_axis.set(title="SFT: training loss", xlabel="logged step", ylabel="loss", yscale="log")
    for key, label, colour in (("tapo_reward", "TAPO", "tab:green"),
                               ("control_reward", "control (advantages flipped)", "tab:red")):
        curve = report["curves"][key]
        reward_axis.plot(curve, alpha=0.3, color=colour)
        reward_axis.plot(moving_average(curve), label=f"{label}, moving mean of 10", color=colour)
    reward_axis.set(title="TAPO: training reward per step", xlabel="step", ylabel="reward")
    reward_axis.legend()
    closed = TASKS[:2]
    for offset, stage in enumerate(STAGES):
        score_axis.bar([i + 0.2 * offset for i in range(2)], [report["scores"][stage][t] for t in closed], 0.2,
                       label=stage)
    score_axis.axhline(report["chance_closed"], color="grey", linestyle="--", label="chance")
    score_axis.set(title="closed-world accuracy (finebench run)", xticks=[0.3, 1.3], xticklabels=["seen", "unseen"],
                   ylabel="%")
    score_axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "finebench-out" / "learning")
    parser.add_argument("--reward-prompts", type=int, default=256, help="Fixed training prompts (8 rollouts each).")
    args = parser.parse_args()
    start = time.perf_counter()
    report = run(args.out.resolve(), args.reward_prompts)
    report["total_s"] = time.perf_counter() - start
    from finebench.util.fsutil import atomic_write_json, atomic_write_text

    atomic_write_json(args.out / "learning.json", report)
    atomic_write_text(args.out / "learning.md", table(report))
    plot(report, args.out / "learning.png")
    print(table(report))
    print(" ".join(f"{name} {seconds:.0f}s" for name, seconds in report["times_s"].items()),
          f"| total {report['total_s']:.0f}s")


if __name__ == "__main__":
    main()
