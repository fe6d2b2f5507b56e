"""``python -m tests.fuzz.sft_killed STEP KEY=VALUE...``: ``finebench train sft`` that kills its own
process with SIGKILL (kill -9: no handler, no cleanup) at the end of optimiser step STEP, so a test
can resume it from a known point."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from transformers import TrainerCallback

import finebench.training.sft.trainer as sft
from finebench.cli.train import sft_command

SFT_YAML = Path(__file__).resolve().parents[2] / "training" / "sft.yaml"


class KillAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    step, overrides = int(sys.argv[1]), sys.argv[2:]
    build = sft.build_trainer

    def build_with_kill(recipe, samples):
        trainer = build(recipe, samples)
        trainer.add_callback(KillAt(step))
        return trainer

    sft.build_trainer = build_with_kill
    sft_command(SFT_YAML, overrides)


if __name__ == "__main__":
    main()
