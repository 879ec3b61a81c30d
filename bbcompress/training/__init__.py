"""Training with torch: datasets, amortized training, encoder refinement, evaluation."""
