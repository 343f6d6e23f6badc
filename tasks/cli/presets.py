"""The shipped presets in `--help`: each name with the first line of its config's `description`.

Read only when help is printed (a --help that lists them, the shell completion), so a command
that does not print help never reads the configs."""

from __future__ import annotations

import argparse
import textwrap

import yaml

WIDTH = 100  # a preset's line: its name, then its description cut at a word to fit


def presets() -> dict[str, str]:
    """Shipped preset name → its description."""
    from tasks.study.loading import CONFIG_DIR, available_configs

    out = {}
    for name in available_configs():
        try:
            raw = yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            raw = {}
        out[name] = str(raw.get("description") or "") if isinstance(raw, dict) else ""
    return out


def one_line(description: str, width: int) -> str:
    """The description on one line of at most `width` characters, cut at a word."""
    text = " ".join(description.split())
    return textwrap.shorten(text, width=width, placeholder=" …") if text else "(no description)"


def presets_help() -> str:
    listed = presets()
    pad = max(map(len, listed), default=0) + 2
    lines = [f"  {name.ljust(pad)}{one_line(text, WIDTH - pad - 2)}" for name, text in listed.items()]
    return "\nshipped presets (--config NAME):\n" + "\n".join(lines) + "\n"


class PresetsHelpParser(argparse.ArgumentParser):
    """A parser whose --help ends with the shipped presets when `lists_presets` is set."""

    lists_presets = False

    def format_help(self) -> str:
        text = super().format_help()
        return text + presets_help() if self.lists_presets else text
