"""Judges by name: ``make_judge("lexical", params)`` -> a :class:`~deepprune.judges.base.Judge`.

Judges are named the same way everywhere (``deepprune bench --strategy
deepprune:judge=lexical``, ``deepprune judge eval --judge ...``). A *builder* takes the parsed
``key=value`` parameters (strings; it pops the keys it knows, see
:func:`deepprune.strategies.registry.take`) and returns a judge. Unknown keys are left in the
dict so that the caller can reject them with a ConfigError naming them.

Extending it (another module, no edit here):

* ``register_judge("minilm", builder, "description")`` registers a name. Modules listed in
  :data:`PLUGIN_MODULES` are imported on first use, so a module of this package that calls
  ``register_judge`` at import time is found without anyone importing it first.
* ``register_path_loader(loader)`` installs the function that loads a judge saved in a
  directory (a trained judge): ``make_judge("runs/judge-v1", params)`` calls
  ``loader(Path("runs/judge-v1"), params)`` when that path exists. Without a loader a
  directory gives a ConfigError that says so.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path

from deepprune.core.errors import ConfigError
from deepprune.judges.base import Judge

__all__ = [
    "PLUGIN_MODULES",
    "JudgeBuilder",
    "PathLoader",
    "available_judges",
    "make_judge",
    "register_judge",
    "register_path_loader",
]

log = logging.getLogger(__name__)

JudgeBuilder = Callable[[dict[str, str]], Judge]
PathLoader = Callable[[Path, dict[str, str]], Judge]

PLUGIN_MODULES: tuple[str, ...] = (
    "deepprune.judges.builtin",
    "deepprune.judges.learned",
    "deepprune.judges.zero_shot",
    "deepprune.judges.trained",
    "deepprune.judges.deepprune4b",
)
"""Modules imported (when present) before a judge is looked up; each registers its judges."""

_JUDGES: dict[str, tuple[JudgeBuilder, str]] = {}
_PATH_LOADER: list[PathLoader] = []
_loaded = False


def register_judge(name: str, builder: JudgeBuilder, description: str = "") -> JudgeBuilder:
    """Register ``builder`` under ``name`` (a later registration of the same name replaces it)."""
    _JUDGES[name] = (builder, description)
    return builder


def register_path_loader(loader: PathLoader) -> PathLoader:
    """Install the loader of judges saved in a directory (the last one installed wins)."""
    _PATH_LOADER[:] = [loader]
    return loader


def _load_plugins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in PLUGIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                log.debug("judge module %s not importable: %s", mod, exc)
                if mod == "deepprune.judges.builtin":
                    raise


def available_judges() -> dict[str, str]:
    """Registered judge names -> one-line descriptions."""
    _load_plugins()
    return {name: desc for name, (_, desc) in sorted(_JUDGES.items())}


def make_judge(name_or_path: str, params: dict[str, str] | None = None) -> Judge:
    """The judge called ``name_or_path`` (a registered name, or a directory of a saved judge).

    ``params`` holds the judge's ``key=value`` parameters as strings; the builder pops the keys
    it uses and leaves the others (the caller rejects leftovers).

    >>> make_judge("lexical").name
    'lexical'
    """
    _load_plugins()
    params = {} if params is None else params
    if name_or_path in _JUDGES:
        builder, _ = _JUDGES[name_or_path]
        return builder(params)
    path = Path(name_or_path)
    if path.exists():
        if not _PATH_LOADER:
            raise ConfigError(
                "judge", name_or_path,
                "a judge name (" + ", ".join(sorted(_JUDGES)) + "); loading a saved judge directory "
                "needs the trained-judge module (pip install 'deepprune[judge]')",
            )
        return _PATH_LOADER[0](path, params)
    raise ConfigError("judge", name_or_path,
                      "one of " + ", ".join(sorted(_JUDGES)) + " or the directory of a saved judge")
