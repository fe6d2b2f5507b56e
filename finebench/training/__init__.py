"""Training kit: Fine-R1 training data (few-shot sets, triplets, CoT), CoT SFT and TAPO, on top of TRL.

May import: everything below it (util ... data); not analysis, interop, leaderboard or cli."""
