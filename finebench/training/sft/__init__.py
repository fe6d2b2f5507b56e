"""Stage 1 of Fine-R1, CoT SFT: the recipe (validated before anything heavy loads) and the trainer."""
