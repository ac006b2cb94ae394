"""The errors toynets reports to users (importable without TensorFlow or MLflow)."""


class ConfigError(ValueError):
    """A config value is wrong; the message names each key, its value and what is allowed."""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""
