"""Text and image embeddings: text encoders (SS_relative, class-name vectors), image embedders with an
on-disk cache, and class vectors and similarity. One home for what scoring, data (distractor mining),
training (hard negatives) and analysis all need.

May import: finebench.util."""
