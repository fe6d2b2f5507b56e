"""Model adapters. Each lives in its own module and is imported only when a card selects it."""
