"""Model adapters. Each lives in its own module and is imported only when a card selects it.
Also the request object (`instance`) that the evaluator hands to every adapter.

May import: util, embeddings, scoring, tasks, models."""
