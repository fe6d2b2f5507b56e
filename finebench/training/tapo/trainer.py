"""TAPO on top of TRL's ``GRPOTrainer``: generation, rewards, vLLM and distributed plumbing stay
TRL's; this subclass changes what a group is, which groups are kept, which image each rollout is
scored on, and the loss.

One training step, per device:

1. The sampler hands over prompts repeated ``G = n1 + n2`` times. Rows ``0..n1-1`` of each group are
   sampled on the anchor image and rows ``n1..G-1`` on the positive image (``_rollout_rows``).
2. TRL generates and scores them; the group's rewards are normalised together (Eq. 1).
3. Dynamic sampling: groups whose rollouts all scored the same are dropped and new prompts are
   generated (all devices run the same number of rounds, because generation is collective), at
   most ``max_resample_rounds`` times; the batch is then topped up with dropped groups. The
   release's rule (thresholds, keep-all blocks, sequential refills, global count) is an option.
4. With ``conditioning: anchor`` the prompt tensors are rebuilt on the anchor image; the prompt is
   also encoded with the negative image and kept per sample (``neg_*`` keys), so TRL's shuffling
   and splitting of the generation batch carries it along.
5. ``_compute_loss`` scores the completion tokens on x_* and on x_neg (one joint forward when the
   negative branch carries gradient, a separate no-grad pass when it does not) and combines the
   log-probs with ``tapo_loss`` (§4.3).

The negative and anchor re-encodings need a processor that reports each image's patch grid
(``image_grid_thw``, as the Qwen2/2.5/3-VL processors do), to split pixel rows per sample.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from trl import GRPOConfig, GRPOTrainer
from trl.data_utils import apply_chat_template, prepare_multimodal_messages
from trl.trainer.utils import unsplit_pixel_values_by_grid

from finebench.training import runs
from finebench.training.images import rl_image
from finebench.training.optim import optimizer_cls_and_kwargs
from finebench.training.rewards import accuracy_reward, format_reward
from finebench.training.tapo.batches import (
    ENCODED_KEYS,
    FORWARD_KEYS,
    SPANNING,
    Round,
    collate_negative,
    concat_rollouts,
    select_rollouts,
)
from finebench.training.tapo.config import TapoConfig
from finebench.training.tapo.loss import ClipSettings, TapoWeights, tapo_loss, token_normalizer
from finebench.training.tapo.sampling import (
    ANCHOR,
    PromptStream,
    conditioning_sources,
    group_advantages,
    identical_run_length,
    informative_groups,
    kept_groups,
    refill_keep,
    select_groups,
    within_bounds,
)

log = logging.getLogger("finebench")

IMAGE_ROLES = {"image": "anchor", "image_positive": "positive", "image_negative": "negative"}
"""Stage-2 row key -> the image's role in the triplet (the release prepares them differently)."""


class TapoTrainer(runs.CheckpointWeights, GRPOTrainer):
    """GRPOTrainer with TAPO's pooled intra-class groups, dynamic sampling and inter-class loss."""

    def __init__(self, model: Any, *, tapo: TapoConfig, args: GRPOConfig, train_dataset: Any, **kwargs: Any) -> None:
        super().__init__(model=model, reward_funcs=[accuracy_reward, format_reward], args=args,
                         train_dataset=train_dataset, **kwargs)
        self.tapo = tapo
        self.weights = TapoWeights(
            gamma=tapo.gamma, eta_policy=tapo.eta_policy, eta_negative=tapo.eta_negative, neg_grad=tapo.neg_grad,
            log_ratio_clamp=tapo.kl_log_ratio_clamp, kl_max=tapo.kl_max, kl_float32=tapo.kl_float32,
        )
        # GRPOTrainer does not forward Trainer's optimizer_cls_and_kwargs; create_optimizer reads it.
        self.optimizer_cls_and_kwargs = optimizer_cls_and_kwargs(tapo.optimizer, lr=args.learning_rate)
        self.clip = ClipSettings(tapo.epsilon_low, tapo.epsilon_high, tapo.dual_clip, tapo.ratio_log_clamp)
        self._sources = conditioning_sources(tapo.n_anchor, tapo.n_positive)
        self._run_length = identical_run_length(tapo.n_anchor, tapo.n_positive)
        self._refill_rng = random.Random(f"tapo-refill:{args.seed}:{self.accelerator.process_index}")
        self._prompt_stream = PromptStream(len(train_dataset), args.seed)
        self._last_rewards: torch.Tensor | None = None
        self._check_supported(args)

    def _check_supported(self, args: GRPOConfig) -> None:
        """TRL options that TAPO's own loss does not implement are refused rather than ignored."""
        problems = []
        if args.num_generations != self.tapo.group_size:
            problems.append(f"num_generations must be n_anchor + n_positive = {self.tapo.group_size}")
        if args.loss_type != "dapo" or args.beta != 0.0:
            problems.append("TAPO is DAPO without a reference model: loss_type 'dapo', beta 0")
        if args.importance_sampling_level != "token":
            problems.append("importance_sampling_level must be 'token'")
        if args.top_entropy_quantile < 1.0 or args.off_policy_mask_threshold is not None or args.delta is not None:
            problems.append("top_entropy_quantile, off_policy_mask_threshold and delta are not supported")
        if args.entropy_coef or args.use_adaptive_entropy:
            problems.append("use eta_policy / eta_negative instead of entropy_coef")
        if self.aux_loss_enabled or self.tools:
            problems.append("MoE auxiliary losses and tools are not supported")
        if (args.per_device_train_batch_size * args.steps_per_generation) % self.tapo.group_size:
            problems.append("per_device_train_batch_size x steps_per_generation must be a multiple of the group size")
        processes = self.accelerator.num_processes
        if self.tapo.refill_prompts is not None and self.tapo.refill_prompts % processes:
            problems.append(f"refill_prompts must be a multiple of the number of processes ({processes})")
        refill = self.tapo.refill_prompts or args.generation_batch_size // self.tapo.group_size
        if self.tapo.refill_order == "sequential" and refill > len(self.train_dataset):
            problems.append(f"refill_order 'sequential' takes {refill} prompts a round but the data has "
                            f"{len(self.train_dataset)}")
        if problems:
            raise ValueError("TapoTrainer: " + "; ".join(problems))

    # ---- generation ------------------------------------------------------------------------------
    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        # A group mixes anchor and positive images: back-ends that deduplicate repeated prompts must
        # do it in runs of identical rows, not per group (see identical_run_length).
        return super()._generate_single_turn(prompt_ids, images, multimodal_fields, self._run_length, has_tool_images)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._last_rewards = rewards
        return rewards

    def _rollout_rows(self, inputs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Dataset rows (each repeated G times) -> rollout rows with the image each is sampled on."""
        group_size = len(self._sources)
        rows = []
        for start in range(0, len(inputs), group_size):
            sample = inputs[start]
            if any(row["image"] != sample["image"] for row in inputs[start : start + group_size]):
                raise RuntimeError("TapoTrainer: a generation batch is not made of whole groups")
            images = {key: self._load_image(sample[key], role) for key, role in IMAGE_ROLES.items()}
            for source in self._sources:
                rows.append({
                    "prompt": sample["prompt"],
                    "answer": sample["answer"],
                    "image": images["image"] if source == ANCHOR else images["image_positive"],
                    "anchor_image": images["image"],
                    "negative_image": images["image_negative"],
                })
        return rows

    def _load_image(self, path: str, role: str) -> Image.Image:
        return rl_image(path, self.tapo.image_resize, role, self.tapo.min_pixels, self.tapo.max_pixels)

    def _run_round(self, inputs: Sequence[dict[str, Any]]) -> Round:
        rows = self._rollout_rows(inputs)
        self._last_rewards = None
        batch = super()._generate_and_score_completions(rows)
        if self._last_rewards is None:
            raise RuntimeError("TapoTrainer: TRL scored the rollouts without _calculate_rewards")
        group_size = len(self._sources)
        values = self._filter_values(self._last_rewards)
        if self.tapo.filter_low is not None:
            flags = within_bounds(values, group_size, self.tapo.filter_low, self.tapo.filter_high)
        else:
            flags = informative_groups(values, group_size)
        kept = kept_groups(flags.view(self.accelerator.num_processes, -1).tolist(), self.tapo.refill_prompts,
                           self.tapo.keep_all_when_none_kept)
        rank = self.accelerator.process_index
        local = self._last_rewards[rank * len(rows) : (rank + 1) * len(rows)]
        mine = set(kept[rank])
        return Round(rows, batch, local, [g in mine for g in range(len(rows) // group_size)], [len(k) for k in kept])

    def _filter_values(self, rewards: torch.Tensor) -> torch.Tensor:
        if self.tapo.dynamic_sampling_key == "accuracy":
            return rewards[:, 0]
        return self._weighted(rewards)

    def _weighted(self, rewards: torch.Tensor) -> torch.Tensor:
        return (rewards * self.reward_weights.to(rewards.device).unsqueeze(0)).nansum(dim=1)

    def _refill_inputs(self, groups: int) -> list[dict[str, Any]]:
        """``groups`` training prompts for this device, each repeated for one group (as the sampler
        does): drawn at random, or this device's slice of the next batch of the seeded stream."""
        if self.tapo.refill_order == "sequential":
            rank, processes = self.accelerator.process_index, self.accelerator.num_processes
            picks = self._prompt_stream.take(groups * processes)[rank * groups : (rank + 1) * groups]
        else:
            picks = [self._refill_rng.randrange(len(self.train_dataset)) for _ in range(groups)]
        return [self.train_dataset[i] for i in picks for _ in self._sources]

    def _enough(self, counts: Sequence[int], target: int) -> bool:
        """Whether the kept groups fill the batch: on every device, or over all of them together."""
        if self.tapo.group_count == "global":
            return sum(counts) >= target * len(counts)
        return min(counts) >= target

    def _dynamic_sampling(self, first: Round, target: int) -> tuple[list[Round], int, int]:
        """Refill rounds until the kept groups fill the batch (``_enough``) or the rounds run out.

        Returns the rounds (refills reduced to the kept groups this device still needs), the
        number of dropped groups generated on this device and the number of refill rounds.
        Rewards are gathered over devices, so every device reaches the same decision without
        another collective and runs the same number of (collective) generation rounds. With
        ``group_count: global`` a device whose own kept groups fall short tops its share up with
        dropped ones (counted as short): rollouts are not moved between devices.
        """
        rounds, counts, extra = [first], list(first.informative_per_device), 0
        dropped = first.informative.count(False)
        rank = self.accelerator.process_index
        limit = self.tapo.max_resample_rounds
        per_round = len(first.informative)
        if self.tapo.refill_prompts is not None:
            per_round = self.tapo.refill_prompts // self.accelerator.num_processes
        while not self._enough(counts, target) and (limit is None or extra < limit):
            extra += 1
            fresh = self._run_round(self._refill_inputs(per_round))
            dropped += fresh.informative.count(False)
            keep = refill_keep(fresh.informative, target - counts[rank])
            counts = [c + n for c, n in zip(counts, fresh.informative_per_device, strict=True)]
            if keep:
                rounds.append(fresh.only(keep, len(self._sources), self._tokenizer.pad_token_id))
        return rounds, dropped, extra

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        group_size = len(self._sources)
        target = len(inputs) // group_size
        mode = "train" if self.model.training else "eval"
        first = self._run_round(inputs)
        if mode == "train" and self.tapo.dynamic_sampling:
            rounds, dropped, extra = self._dynamic_sampling(first, target)
            selection = select_groups([r.informative for r in rounds], target)
        else:
            rounds, dropped, extra = [first], 0, 0
            selection = select_groups([[True] * target], target)
        batch, rows, rewards = self._assemble(rounds, selection.picks)

        advantages = group_advantages(self._weighted(rewards), group_size, self.tapo.advantage_eps)
        batch["advantages"] = (-advantages if self.tapo.negate_advantages else advantages).to(
            batch["completion_ids"].device
        )
        if self.tapo.conditioning == ANCHOR:
            self._condition_on_anchor(batch, rows)
        if self.weights.needs_negative:
            negative = self._negative_inputs(rows)
            if self.tapo.negative_policy == "old":  # scored once, now, before this batch's updates
                batch["neg_old_per_token_logps"] = self._old_negative_logps(negative, batch)
            else:
                batch.update(negative)

        counts = torch.tensor([selection.kept, dropped, selection.short], dtype=torch.float32,
                              device=self.accelerator.device)
        kept, dropped_total, short = self.accelerator.gather(counts).view(-1, 3).sum(0).tolist()
        self._metrics[mode]["tapo/kept_groups"].append(kept)
        self._metrics[mode]["tapo/dropped_groups"].append(dropped_total)
        self._metrics[mode]["tapo/short_groups"].append(short)
        self._metrics[mode]["tapo/resample_rounds"].append(extra)
        if short:
            log.info("TAPO dynamic sampling: %d group(s) without reward variance kept after %d refill round(s)",
                     int(short), extra)
        return batch

    def _assemble(
        self, rounds: list[Round], picks: Sequence[tuple[int, int]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]], torch.Tensor]:
        """The picked (round, group) pairs as one TRL batch, with their rollout rows and rewards."""
        group_size = len(self._sources)
        first = rounds[0]
        if list(picks) == [(0, g) for g in range(len(first.informative))]:
            return first.batch, first.rows, first.rewards
        starts = [0]
        for round_ in rounds[:-1]:
            starts.append(starts[-1] + len(round_.rows))
        order = [starts[r] + g * group_size + k for r, g in picks for k in range(group_size)]
        batch = select_rollouts(concat_rollouts([r.batch for r in rounds], self._tokenizer.pad_token_id), order)
        loss_mask = batch["completion_mask"] * batch.get("tool_mask", 1)
        batch["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        all_rows = [row for r in rounds for row in r.rows]
        return batch, [all_rows[i] for i in order], torch.cat([r.rewards for r in rounds])[order]

    # ---- conditioning --------------------------------------------------------------------------
    def _encode(self, rows: Sequence[dict[str, Any]], image_key: str) -> dict[str, torch.Tensor]:
        """Prompts of ``rows`` tokenised with image ``image_key`` (left-padded), as TRL encodes them."""
        images = [row[image_key] for row in rows]
        texts = [
            apply_chat_template(
                {"prompt": prepare_multimodal_messages(row["prompt"], images=[image])},
                self.processing_class, **self.chat_template_kwargs,
            )["prompt"]
            for row, image in zip(rows, images, strict=True)
        ]
        encoded = self.processing_class(
            images=[[image] for image in images], text=texts, padding=True, padding_side="left", return_tensors="pt"
        )
        unknown = set(encoded) - ENCODED_KEYS
        if unknown or "image_grid_thw" not in encoded:
            raise ValueError(
                "TAPO re-encodes prompts per image and needs a processor returning pixel_values and image_grid_thw "
                f"(Qwen-VL family); got {sorted(encoded)}"
            )
        return {key: value.to(self.accelerator.device) for key, value in encoded.items()}

    def _condition_on_anchor(self, batch: dict[str, Any], rows: Sequence[dict[str, Any]]) -> None:
        """Rebuild the prompt side of ``batch`` on each group's anchor image (``conditioning: anchor``).

        Old log-probs, when TRL kept them, are recomputed on the anchor so the PPO ratio starts at 1;
        vLLM's sampler-correction ratio stays as TRL computed it on the image actually sampled on.
        """
        encoded = self._encode(rows, "anchor_image")
        completion_width = batch["completion_ids"].size(1)
        batch["prompt_ids"], batch["prompt_mask"] = encoded["input_ids"], encoded["attention_mask"]
        batch["pixel_values"], batch["image_grid_thw"] = encoded["pixel_values"], encoded["image_grid_thw"]
        batch["num_images"] = [1] * len(rows)
        for key in SPANNING:
            if key in encoded:
                prompt_part = encoded[key]
                batch[key] = torch.cat([prompt_part, prompt_part.new_zeros(len(rows), completion_width)], dim=1)
        if "old_per_token_logps" in batch:  # the ratio's reference must be conditioned like the update
            with torch.no_grad():
                batch["old_per_token_logps"] = self._completion_logps(
                    self.model, batch, batch, chunk=self.args.per_device_train_batch_size
                )

    def _negative_inputs(self, rows: Sequence[dict[str, Any]]) -> dict[str, list[torch.Tensor]]:
        """The prompt on each row's negative image, one tensor per sample (so TRL can shuffle it)."""
        encoded = self._encode(rows, "negative_image")
        keep = encoded["attention_mask"].bool()
        patches = encoded["image_grid_thw"].prod(-1).tolist()
        negative = {
            "neg_prompt_ids": [ids[m] for ids, m in zip(encoded["input_ids"], keep, strict=True)],
            "neg_pixel_values": list(torch.split(encoded["pixel_values"], patches)),
            "neg_image_grid_thw": list(encoded["image_grid_thw"].split(1)),
        }
        for key in SPANNING:
            if key in encoded:
                negative[f"neg_{key}"] = [ids[m] for ids, m in zip(encoded[key], keep, strict=True)]
        return negative

    def _old_negative_logps(self, negative: dict[str, list[torch.Tensor]], batch: dict[str, Any]) -> torch.Tensor:
        """log pi_old(o_t | q, x_neg) of the whole rollout batch, without gradient (``negative_policy: old``)."""
        collated = collate_negative(negative, self._tokenizer.pad_token_id, batch["completion_ids"].size(1))
        with torch.no_grad():
            return self._completion_logps(self.model, collated, batch, chunk=self.args.per_device_train_batch_size)

    # ---- loss ------------------------------------------------------------------------------------
    def _completion_logps(
        self, model: Any, prompt_side: dict[str, Any], batch: dict[str, Any], chunk: int | None = None
    ) -> torch.Tensor:
        """log pi(o_t | prompt, image) of ``batch``'s completion tokens, the prompt and image taken
        from ``prompt_side`` (the batch itself, or its negative-image collation), ``chunk`` rows at a time."""
        input_ids = torch.cat([prompt_side["prompt_ids"], batch["completion_ids"]], dim=1)
        attention_mask = torch.cat([prompt_side["prompt_mask"], batch["completion_mask"]], dim=1)
        forward = {key: prompt_side[key] for key in FORWARD_KEYS if prompt_side.get(key) is not None}
        logps, _, _ = self._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, batch["completion_ids"].size(1), batch_size=chunk, **forward
        )
        return logps

    def _policy_and_negative_logps(
        self, model: Any, inputs: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """log pi(o|q,x_*) and, when the loss uses it, log pi(o|q,x_neg) for the same completions.

        With ``neg_grad`` both run as ONE forward over 2B rows: one pass (and, under ZeRO-3, one
        parameter gather) instead of two, and one backward graph. Without it the negative pass
        runs under ``no_grad``, which is cheaper than carrying half a batch without gradient.
        """
        if not self.weights.needs_negative:
            return self._completion_logps(model, inputs, inputs), None
        if "neg_old_per_token_logps" in inputs:
            return self._completion_logps(model, inputs, inputs), inputs["neg_old_per_token_logps"]
        pad_id = self._tokenizer.pad_token_id
        negative = collate_negative(inputs, pad_id, inputs["completion_ids"].size(1))
        if not self.weights.neg_grad:
            with torch.no_grad():
                negative_logps = self._completion_logps(model, negative, inputs)
            return self._completion_logps(model, inputs, inputs), negative_logps
        completions = {key: inputs[key] for key in ("completion_ids", "completion_mask")}
        sides = [{key: inputs[key] for key in negative}, negative]
        joint = unsplit_pixel_values_by_grid(concat_rollouts([{**side, **completions} for side in sides], pad_id))
        logps = self._completion_logps(model, joint, joint)
        return logps.chunk(2)

    def _compute_loss(self, model, inputs):
        mode = "train" if self.model.training else "eval"
        mask = inputs["completion_mask"] * inputs.get("tool_mask", 1)
        logps, negative_logps = self._policy_and_negative_logps(model, inputs)
        old_logps = inputs.get("old_per_token_logps")
        terms = tapo_loss(
            logps, logps.detach() if old_logps is None else old_logps, inputs["advantages"], mask,
            negative_logps=negative_logps, weights=self.weights, clip=self.clip,
            normalizer=token_normalizer(
                self.tapo.token_mean, mask, inputs["num_items_in_batch"], num_processes=self.accelerator.num_processes,
                accumulation_steps=self.current_gradient_accumulation_steps if mode == "train" else None,
                steps_per_generation=self.args.steps_per_generation,
            ),
            importance_weights=inputs.get("importance_sampling_ratio"),
        )
        for name, value in terms.token_means(mask).items():
            self._metrics[mode][f"tapo/{name}"].append(self.accelerator.gather(value).nanmean().item())
        return terms.loss
