"""Chain-of-thought construction for Stage 1: parsing and judging a teacher's reasoning, and the
build loop that asks a teacher model and writes Stage-1 samples."""
