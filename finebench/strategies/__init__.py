"""Inference strategies beyond plain prompting (paper §5.3)."""
