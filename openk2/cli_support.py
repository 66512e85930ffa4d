"""What every openk2 command shares: one-line errors, consoles, dtype and model arguments.

A leaf module (it mounts no commands), so the agent, server and train command modules can import
it without importing `openk2.cli`, which imports them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16", "fp16": "float16"}


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Report bad input as one line on stderr with exit status 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, OSError) as e:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def parse_dtype(name: str):
    import torch

    if name.lower() not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; choose from float32, bfloat16, float16")
    return getattr(torch, DTYPES[name.lower()])


def resolve_config(target: str):
    """A checkpoint directory, a config.json file, or a preset name -> (ModelConfig, checkpoint dir or None)."""
    from .checkpoint import load_config
    from .config import PRESETS, ModelConfig, preset

    path = Path(target)
    if path.is_dir():
        return load_config(path), path
    if path.is_file():
        return ModelConfig.from_json_file(path), None
    if target in PRESETS:
        return preset(target), None
    raise ValueError(f"{target!r} is neither a checkpoint directory, a config file nor a preset ({', '.join(PRESETS)})")
