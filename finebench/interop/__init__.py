"""Other harnesses: tasks exported to lmms-eval (hooks that call finebench) and general-capability
benchmarks run through lmms-eval and stored in the same results.json.

May import: everything below it (util ... training, analysis); not leaderboard or cli."""
