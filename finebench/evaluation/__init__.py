"""Running an evaluation: the run configuration, planning requests, the evaluator (batching, cache,
per-sample failures, scoring, results after every task), the response cache, the results schema and
re-scoring saved responses; `session` ties a model card, its adapter and a run together.

May import: util, embeddings, scoring, tasks, models, adapters."""
