"""Pure analyses: weights and inputs in, arrays out (no MLflow, Hydra or plotting)."""
