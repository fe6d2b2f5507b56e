"""Stage 2 of Fine-R1, TAPO: the recipe, the loss, dynamic sampling, rollout batch surgery, the
Stage-2 data and the GRPOTrainer subclass that puts them together."""
