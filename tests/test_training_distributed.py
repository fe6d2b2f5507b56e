"""Two processes on the CPU (gloo) through ``accelerate launch``: the real ``finebench train sft``
and ``finebench train tapo`` commands run, TAPO's groups stay whole on each rank, and one step's
loss and gradient equal the single-process step on the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from finebench.data.synthetic import build_synthetic

REPO = Path(__file__).resolve().parents[1]
STEP_SCRIPT = REPO / "tests" / "distributed_step.py"
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(processes: int, *command: str) -> None:
    """``command`` (a script and its arguments, or ``-m module ...``) under accelerate on the CPU.

    ``--multi_gpu`` picks accelerate's torchrun launcher (``--cpu`` would start one process); on a
    machine without an accelerator finebench's trainers then run on the CPU with gloo."""
    accelerate = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1",
                  "--num_processes", str(processes), "--mixed_precision", "no", "--dynamo_backend", "no",
                  "--main_process_port", str(free_port())]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run([*accelerate, *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_synthetic(tmp_path_factory.mktemp("synth-dist"), test_per_class=1, train_per_class=2).root


def sft_overrides(model: Path, root: Path, out: Path) -> list[str]:
    return [f"model={model}", f"data_files={root / 'synth/sft/synth-stage1.json'}", f"image_root={root}",
            f"output_dir={out}", "effective_batch_size=8", "max_grad_norm=1e9"]


def tapo_overrides(model: Path, root: Path, out: Path) -> list[str]:
    return [f"model={model}", f"train_data={root / 'synth/tapo/synth-stage2.json'}", f"image_root={root}",
            f"output_dir={out}", "n_anchor=2", "n_positive=2", "gradient_accumulation_steps=1",
            "steps_per_generation=1", "max_completion_length=16", "max_grad_norm=1e9", "warmup_ratio=0.0"]


def one_step(kind: str, processes: int, overrides: list[str], out: Path) -> dict:
    recipe = REPO / "training" / f"synth-{kind}.yaml"
    arguments = [str(STEP_SCRIPT), kind, str(recipe), str(out), "max_steps=1", "logging_steps=1", *overrides]
    if processes == 1:
        result = subprocess.run([sys.executable, *arguments], cwd=REPO, capture_output=True, text=True, timeout=600,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        assert result.returncode == 0, result.stderr[-5000:]
    else:
        launch(processes, *arguments)
    return torch.load(out)


@pytest.mark.parametrize("kind", ["sft", "tapo"])
def test_a_two_process_step_equals_the_single_process_step(kind: str, tiny_model_dir: Path, synth_root: Path,
                                                            tmp_path: Path) -> None:
    make = sft_overrides if kind == "sft" else tapo_overrides
    # The same global batch, in the same micro-batches: 8 SFT samples or 4 TAPO groups of 4 rollouts,
    # as two accumulated micro-batches on one rank or one micro-batch on each of two ranks (SFT
    # derives the accumulation from effective_batch_size and the number of processes).
    single_batches = {"sft": [], "tapo": ["gradient_accumulation_steps=2", "steps_per_generation=2"]}[kind]
    per_device = {"sft": 4, "tapo": 8}[kind]
    single = one_step(kind, 1, [*make(tiny_model_dir, synth_root, tmp_path / "one"), *single_batches,
                                f"per_device_train_batch_size={per_device}"], tmp_path / "one.pt")
    double = one_step(kind, 2, [*make(tiny_model_dir, synth_root, tmp_path / "two"),
                                f"per_device_train_batch_size={per_device}"], tmp_path / "two.pt")
    assert (single["processes"], double["processes"]) == (1, 2)
    assert single["gradient"].abs().sum() > 0
    assert double["loss"] == pytest.approx(single["loss"], rel=1e-4, abs=1e-6)
    torch.testing.assert_close(double["gradient"], single["gradient"], rtol=1e-4, atol=1e-7)


def test_the_real_commands_train_on_two_processes(tiny_model_dir: Path, synth_root: Path, tmp_path: Path) -> None:
    sft_out, tapo_out = tmp_path / "sft", tmp_path / "tapo"
    launch(2, "-m", "finebench", "train", "sft", "--config", "training/synth-sft.yaml",
           *sft_overrides(tiny_model_dir, synth_root, sft_out), "per_device_train_batch_size=4", "max_steps=2")
    assert json.loads((sft_out / "finebench_sft.json").read_text())["global_step"] == 2
    # groups of 4 on each rank, sampled by the real generation; the SFT checkpoint goes on to TAPO
    launch(2, "-m", "finebench", "train", "tapo", "--config", "training/synth-tapo.yaml",
           *tapo_overrides(sft_out, synth_root, tapo_out), "per_device_train_batch_size=8", "max_steps=2")
    report = json.loads((tapo_out / "finebench_tapo.json").read_text())
    assert report["global_step"] == 2 and (tapo_out / "model.safetensors").is_file()
    kept = [entry["tapo/kept_groups"] + entry["tapo/short_groups"] for entry in report["log_history"]
            if "tapo/kept_groups" in entry]
    assert kept == [4.0, 4.0]  # 2 groups per rank x 2 ranks, whole, every step
