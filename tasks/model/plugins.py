"""Bring your own architecture or operation: user modules that register into the registries.

A plugin is a module or package name importable here (`--plugin mypkg.units`), a path to a
`.py` file (`--plugin ./my_units.py`), or a module named by an installed distribution's
entry point in the group `multiplication_lab.plugins`. Importing it runs its `register(...)`
calls (tasks.model.registry for architectures, tasks.data.operations for operations). The
loaded plugins are recorded in an environment variable (MLAB_PLUGINS) that every task of ours
carries, so a worker loads the same plugins (our tasks do on start; the architecture registry
also on meeting an unknown name):
by name where they are importable (installed, or shipped by the Ray connection the lab
starts, as `py_modules`), else from the driver's file path (a cluster on one machine).
Configs never import anything: only the command line or an installed entry point does.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

from tasks.core.errors import UserError
from tasks.model import registry

ENV = "MLAB_PLUGINS"
ENTRY_POINT_GROUP = "multiplication_lab.plugins"


@dataclass(frozen=True)
class Plugin:
    module: str  # import name
    path: str | None  # the .py file it was loaded from, when named by path


_loaded: dict[str, Plugin] = {}


def load_plugins(specs: list[str] | tuple[str, ...] = (), entry_points: bool = True) -> list[Plugin]:
    """Import each plugin (and, by default, every installed entry point); record them for workers."""
    for spec in specs:
        plugin = _plugin_for(spec)
        _load(plugin, by_path_first=plugin.path is not None)
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            _load(Plugin(ep.value.split(":")[0], None))
    os.environ[ENV] = json.dumps([asdict(p) for p in _loaded.values()])
    return list(_loaded.values())


def load_from_environment() -> None:
    """In a Ray task, before it meets an architecture: load what the driver loaded (a no-op when
    nothing was, or once loaded). Shipped modules are importable by name; a path is the fallback
    on the driver's own machine."""
    for entry in json.loads(os.environ.get(ENV) or "[]"):
        _load(Plugin(**entry))


def reset() -> None:
    """Forget every loaded plugin and the architectures and operations they registered (tests, notebooks)."""
    from tasks.data import operations

    for name in set(registry.names()) - set(registry.shipped_names()):
        registry.unregister(name)
    operations.unregister_plugins()
    for p in _loaded.values():
        sys.modules.pop(p.module, None)
    _loaded.clear()
    os.environ.pop(ENV, None)


def _plugin_for(spec: str) -> Plugin:
    if spec.endswith(".py") or os.sep in spec:
        path = Path(spec).expanduser().resolve()
        if not path.is_file():
            raise UserError(f"plugin file not found: {spec}")
        return Plugin(path.stem, str(path))
    if importlib.util.find_spec(spec.split(".")[0]) is None and (Path.cwd() / f"{spec}.py").is_file():
        return Plugin(spec, str(Path.cwd() / f"{spec}.py"))  # a module beside the user, as Python's -m would find it
    return Plugin(spec, None)


def _load(plugin: Plugin, by_path_first: bool = False) -> ModuleType:
    if plugin.module in _loaded and plugin.module in sys.modules:
        return sys.modules[plugin.module]
    try:
        if by_path_first or not _importable(plugin.module):
            if plugin.path is None:
                raise ModuleNotFoundError(f"no module named '{plugin.module}'")
            module = _import_path(plugin.module, plugin.path)
        else:
            module = importlib.import_module(plugin.module)
    except UserError:
        raise
    except Exception as exc:  # a plugin's own bug must read as such, in one line
        where = plugin.path or plugin.module
        raise UserError(f"cannot load plugin {where}: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
    _loaded[plugin.module] = plugin
    return module


def _importable(name: str) -> bool:
    try:
        return name in sys.modules or importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _import_path(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"not a Python module: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def task_env_vars() -> dict[str, str]:
    """The environment variables a task needs to load the plugins (empty without plugins)."""
    return {ENV: os.environ[ENV]} if _loaded else {}


def job_runtime_env() -> dict:
    """For a Ray connection the lab starts: the plugins' record, and the code of plugins that
    are not installed, shipped to every node with `py_modules` (Ray accepts local code only
    for the whole job, not per task)."""
    if not _loaded:
        return {}
    tops = sorted({p.module.split(".")[0] for p in _loaded.values()})  # a submodule travels with its package
    code = [sys.modules[t] for t in tops if t in sys.modules and not _installed(sys.modules[t])]
    return {"env_vars": task_env_vars(), **({"py_modules": code} if code else {})}


def _installed(module: ModuleType) -> bool:
    """Installed distributions are on every node already (the cluster installs them)."""
    where = module.__path__[0] if hasattr(module, "__path__") else module.__file__
    return any(part in ("site-packages", "dist-packages") for part in Path(where or "").resolve().parts)
