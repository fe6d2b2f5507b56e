"""Representation analyses of Fine-R1 §5.4: features, linear probes, taxonomy gap and PCA.

May import: everything below it (util ... training); not interop, leaderboard or cli."""
