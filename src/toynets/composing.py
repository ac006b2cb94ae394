"""Composing a sweep's many jobs: config files read and merged once per choice of config groups.

Hydra composes every job of a sweep from scratch, and more than once: toynets checks each job
before the sweep starts (`sweep.check_jobs`), the basic sweeper checks each batch, the launcher
composes each job to run it. One composition reads the config files of the search path,
builds the defaults list and merges the files (~0.1-0.2 s); for a sweep over values (seeds,
learning rates, widths) all of that is the same for every job, and only the overrides of
values differ.

`install()` (called by the sweep callback, in the launching process) has Hydra keep the part
that depends only on the config group choices: for each job, the merged config of its group
choices (`dataset=spiral`, `+experiment=...`, `hydra/launcher=...`) is copied from the first
job that made the same choices, then Hydra's own code applies the job's value overrides and
fills in the job's Hydra node (`ConfigLoaderImpl._load_configuration_impl`, hydra-core 1.3,
with the cached part cut out). The config files are read once per sweep, so a file edited
while a sweep runs does not reach its later jobs (it would not reach a joblib worker's either).
"""

from __future__ import annotations

import copy
import os
from typing import Any

from hydra._internal.config_loader_impl import (
    ConfigLoaderImpl,
    ConfigSourceInfo,
    get_overrides_dirname,
)
from hydra._internal.defaults_list import create_defaults_list
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobRuntime
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

_ORIGINAL = ConfigLoaderImpl._load_configuration_impl
# (config name, search path overrides) -> a repository that tells config groups from values;
# (that, run mode, group choices) -> (defaults list, repository, merged config before the
# value overrides). A composition changes configs it loaded, so every group choice is composed
# with a repository of its own, and its merged config is kept as a copy.
_PROBES: dict[tuple, Any] = {}
_COMPOSED: dict[tuple, tuple[Any, Any, DictConfig]] = {}


def install() -> None:
    """Compose with the cache from now on, in this process."""
    ConfigLoaderImpl._load_configuration_impl = _load_configuration_impl  # type: ignore


def uninstall() -> None:
    ConfigLoaderImpl._load_configuration_impl = _ORIGINAL  # type: ignore
    _PROBES.clear()
    _COMPOSED.clear()


def _is_group_choice(override: Override, repo: Any) -> bool:
    """Whether Hydra's defaults list takes the override as a config group choice (the test of
    `hydra._internal.defaults_list.Overrides`); the others are applied as values."""
    if override.is_sweep_override():
        return False
    return repo.group_exists(override.key_or_group) and not isinstance(override.value(), dict)


def _load_configuration_impl(
    self: ConfigLoaderImpl,
    config_name: str | None,
    overrides: list[str],
    run_mode: RunMode,
    from_shell: bool = True,
    validate_sweep_overrides: bool = True,
) -> DictConfig:
    from hydra import __version__, version

    self.ensure_main_config_source_available()
    parsed = OverridesParser.create().parse_overrides(overrides=overrides)
    searchpath = tuple(
        o.input_line for o in parsed if o.key_or_group.startswith("hydra.searchpath")
    )
    repo_key = (config_name, searchpath)
    if repo_key not in _PROBES:
        _, _PROBES[repo_key] = self._parse_overrides_and_create_caching_repo(config_name, overrides)
    probe = _PROBES[repo_key]
    if validate_sweep_overrides:
        self.validate_sweep_overrides_legal(
            overrides=parsed, run_mode=run_mode, from_shell=from_shell
        )
    choices = tuple(o.input_line for o in parsed if _is_group_choice(o, probe))
    key = (repo_key, run_mode, choices)
    if key not in _COMPOSED:
        _, caching_repo = self._parse_overrides_and_create_caching_repo(config_name, overrides)
        defaults_list = create_defaults_list(
            repo=caching_repo,
            config_name=config_name,
            overrides_list=parsed,
            prepend_hydra=True,
            skip_missing=run_mode == RunMode.MULTIRUN,
        )
        base = self._compose_config_from_defaults_list(
            defaults=defaults_list.defaults, repo=caching_repo
        )
        OmegaConf.set_struct(base, True)
        OmegaConf.set_readonly(base.hydra, False)
        _COMPOSED[key] = (defaults_list, caching_repo, copy.deepcopy(base))
    defaults_list, caching_repo, base = _COMPOSED[key]
    cfg = copy.deepcopy(base)
    config_overrides = [
        o for o in parsed if not o.is_sweep_override() and not _is_group_choice(o, probe)
    ]

    # From here on as Hydra's ConfigLoaderImpl._load_configuration_impl (hydra-core 1.3).
    ConfigLoaderImpl._apply_overrides_to_config(config_overrides, cfg)
    app_overrides = []
    for override in parsed:
        if override.is_hydra_override():
            cfg.hydra.overrides.hydra.append(override.input_line)
        else:
            cfg.hydra.overrides.task.append(override.input_line)
            app_overrides.append(override)
    with open_dict(cfg.hydra):
        cfg.hydra.runtime.choices.update(defaults_list.overrides.known_choices)
        for env_key in cfg.hydra.job.env_copy:
            cfg.hydra.job.env_set[env_key] = os.environ[env_key]
    cfg.hydra.runtime.version = __version__
    cfg.hydra.runtime.version_base = version.getbase()
    cfg.hydra.runtime.cwd = os.getcwd()
    cfg.hydra.runtime.config_sources = [
        ConfigSourceInfo(path=x.path, schema=x.scheme(), provider=x.provider)
        for x in caching_repo.get_sources()
    ]
    if "name" not in cfg.hydra.job:
        cfg.hydra.job.name = JobRuntime().get("name")
    cfg.hydra.job.override_dirname = get_overrides_dirname(
        overrides=app_overrides,
        kv_sep=cfg.hydra.job.config.override_dirname.kv_sep,
        item_sep=cfg.hydra.job.config.override_dirname.item_sep,
        exclude_keys=cfg.hydra.job.config.override_dirname.exclude_keys,
    )
    cfg.hydra.job.config_name = config_name
    return cfg
