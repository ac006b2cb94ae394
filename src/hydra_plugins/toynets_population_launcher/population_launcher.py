"""`hydra/launcher=population`: a sweep's small nets train together, then each job runs as usual.

Hydra finds this launcher by scanning the `hydra_plugins` namespace package, which registers
its config (`hydra/launcher=population`) in the ConfigStore; toynets ships it, so
`pip install toynets` is all it takes.

    toynets -m hydra/launcher=population seed=range(16) study=train
    toynets -m hydra/launcher=population model.hidden=[4],[8] train.lr=0.003,0.01 'seed=range(10)'

A batch of jobs runs in three steps, all in the launching process:

1. compose every job's config (as Hydra's basic launcher does) and resolve it;
2. `toynets.app.train_populations`: validate each, make its data and model, sort the jobs into
   populations (same hidden layers, head, optimizer, schedule and data sizes; seeds, learning
   rates, init scales, widths and data may differ) and train each population at once
   (`toynets.train.fit_population`; each net ends where it would alone, to float32 round-off);
3. run every job through Hydra's `run_job` and toynets' job function, exactly as the basic
   launcher does, except that the job takes its trained net and history instead of training
   (a job that could join no population trains itself): it opens its own run, logs everything
   a single job logs and runs its study. A member whose loss stopped being finite fails its
   own job (FAILED run); the others finish.

`hydra.launcher.max_size` caps how many nets train as one population (256 by default).
"""

# No `from __future__ import annotations`: Hydra executes plugin modules without entering them
# in sys.modules, where dataclasses look up string annotations.
import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import (
    JobReturn,
    configure_log,
    env_override,
    filter_overrides,
    run_job,
    setup_globals,
)
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)

RENDER_WORKERS = 2  # processes saving the jobs' figures while the next jobs log their runs


@dataclass
class PopulationLauncherConf:
    _target_: str = (
        "hydra_plugins.toynets_population_launcher.population_launcher.PopulationLauncher"
    )
    max_size: int = 256  # the most nets trained as one population


ConfigStore.instance().store(
    group="hydra/launcher", name="population", node=PopulationLauncherConf, provider="toynets"
)


class PopulationLauncher(Launcher):
    """Trains the jobs' nets in populations, then runs each job in this process."""

    def __init__(self, max_size: int = 256) -> None:
        super().__init__()
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            from toynets.errors import ConfigError
            from toynets.sweep import population_size_problem

            raise ConfigError(population_size_problem(max_size))
        self.max_size = max_size
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Any, initial_job_idx: int) -> list[JobReturn]:
        from toynets import render, sweep
        from toynets.app import PRETRAINED, train_populations

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        assert self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Population launcher: {len(job_overrides)} jobs")
        configs = {}
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            config = self.hydra_context.config_loader.load_sweep_config(
                self.config, list(overrides)
            )
            with open_dict(config):
                config.hydra.job.id = idx
                config.hydra.job.num = idx
            configs[idx] = config
        sweep.expect_jobs({num: list(c.hydra.overrides.task) for num, c in configs.items()})
        renderer = render.own_renderer()
        if renderer is not None:
            # The figure workers import matplotlib while TensorFlow is imported and the nets
            # train; two of them, as the jobs hand over figures faster than one draws them.
            renderer.start(workers=RENDER_WORKERS)
        tasks = {num: task for num, c in configs.items() if (task := _resolved_task(c))}
        pretrained, groups = train_populations(tasks, self.max_size)
        log.info(f"Populations: {[len(g) for g in groups]}")
        PRETRAINED.update(pretrained)
        returns = []
        try:
            for config in configs.values():
                returns.append(
                    run_job(
                        hydra_context=self.hydra_context,
                        task_function=self.task_function,
                        config=config,
                        job_dir_key="hydra.sweep.dir",
                        job_subdir_key="hydra.sweep.subdir",
                    )
                )
        finally:
            # Each job sets its own logging up; Hydra's own is back once they are done.
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            for num in configs:
                PRETRAINED.pop(num, None)
        return returns


def _resolved_task(config: DictConfig) -> DictConfig | None:
    """The job's config without Hydra's node, every interpolation resolved as the job would
    resolve it (its Hydra config set, its environment variables in place); None if it cannot
    be resolved (the job then fails with its own error when it runs)."""
    previous = HydraConfig.instance().cfg
    try:
        HydraConfig.instance().set_config(config)
        with env_override(config.hydra.job.env_set):
            task = copy.deepcopy(config)
            with read_write(task), open_dict(task):
                del task["hydra"]
            OmegaConf.resolve(task)
            return task
    except Exception:
        return None
    finally:
        if previous is not None:
            HydraConfig.instance().cfg = previous
