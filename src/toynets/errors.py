"""The errors toynets reports to users (importable without TensorFlow or MLflow)."""


class ConfigError(ValueError):
    """A config value is wrong; the message names each key, its value and what is allowed."""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; `history` holds what was recorded until then
    (a `toynets.train.History`), `step` and `value` where it happened."""

    def __init__(self, message: str, step: int = -1, value: float = float("nan"), history=None):
        super().__init__(message)
        self.step, self.value, self.history = step, value, history


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `kill`, `timeout`, SLURM, Ray and containers send), handled as Ctrl-C is:
    the run is marked KILLED and what it logged is kept."""


class StoreNotFound(ConfigError, LookupError):
    """Reading a tracking store that does not exist (toynets never creates one to read it)."""
