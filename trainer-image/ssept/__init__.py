"""SSE-PT offline stages: data pipeline, model, training, tuning, evaluation and export."""

__version__ = "0.1.0"
