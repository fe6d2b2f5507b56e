"""Dataset preparation: official layouts -> item manifests -> benchmark files in the release format;
the Stage-1/Stage-2 training file formats; `data fetch`; the demo and synthetic benchmarks.

May import: util, embeddings, scoring, tasks, models, adapters, evaluation."""
