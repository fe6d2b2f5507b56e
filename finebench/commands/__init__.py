"""Command implementations that ``finebench.cli`` registers; each imports its heavy dependencies lazily."""
