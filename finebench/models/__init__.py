"""Model cards and offline model builders (tiny random models, random-weight real-size models).

May import: util."""
