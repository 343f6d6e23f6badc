"""The one registry of architectures: the shipped units and any a plugin registers.

    from tasks.model.registry import register
    register(MyUnit("my_unit"))

A config names an architecture by its registered name. An architecture defined outside
this project also carries its code identity (a hash of the module that defines it) into
its models' ids, so editing a plugin never reuses models trained by its earlier code.
"""

from __future__ import annotations

from typing import Any

from tasks.core import code_identity as plugin_code
from tasks.core import registries
from tasks.core.errors import UserError
from tasks.core.schema import Section
from tasks.model.architecture import Architecture
from tasks.model.units.layers import GLOROT
from tasks.model.units.mlp import MLP, LogMLP, ProductFeatureMLP
from tasks.model.units.product_unit import ProductUnit
from tasks.model.units.stack import OneLayer, Stack

REGISTRY: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    """Add `arch` under `arch.name`; re-registering the same class (a re-import) is allowed."""
    return registries.add(REGISTRY, arch, Architecture, "architecture")


for _shipped in (
    MLP("mlp"),  # the article's model: hidden=[80], relu
    ProductFeatureMLP("mlp_product_feature"),
    LogMLP("log_mlp"),
    ProductUnit("product_unit"),
    OneLayer("nalu", layer="nalu", default_init=GLOROT, activations=6),  # Trask et al. 2018, 2 → 1
    OneLayer("nmu", layer="nmu", activations=3),  # Madsen & Johansen 2020, 2 → 1
    Stack("stack"),  # layers of the neural-arithmetic papers, e.g. [nau, nmu]
):
    register(_shipped)


def get(name: str) -> Architecture:
    """The architecture registered as `name` (a Ray task loads the driver's plugins first:
    tasks.model.plugins.load_from_environment)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(
            f"unknown architecture '{name}' (registered: {', '.join(REGISTRY)}); load its plugin with --plugin"
        ) from None


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def shipped_names() -> tuple[str, ...]:
    """The architectures this project ships (not those a plugin added)."""
    return tuple(n for n, a in REGISTRY.items() if plugin_code.is_shipped(a))


def unregister(name: str) -> None:
    """Remove a plugin's architecture (shipped ones stay)."""
    if name not in shipped_names():
        REGISTRY.pop(name, None)


def code_identity(name: str) -> str | None:
    """A hash of the source of a plugin architecture's module; None for shipped ones (a change
    to them bumps TRAIN_VERSION, tasks.model.settings)."""
    return plugin_code.code_identity(get(name))


def parse_architecture(raw: Any, key: str) -> tuple[str, dict[str, Any]]:
    return read_architecture(Section(raw, key))


def read_architecture(section: Section) -> tuple[str, dict[str, Any]]:
    """An architecture's name and parameters from its config section (unknown keys rejected)."""
    name = section.string("arch", choices=tuple(REGISTRY))
    params = REGISTRY[name].parse(section)
    section.done()
    return name, params
