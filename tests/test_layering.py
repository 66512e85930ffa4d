"""The layers talk through typed interfaces: imports point downward, and the server reads the engine only through
its public properties (no `engine.llm`, no private attributes), so either side can change inside."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "openk2"
# Lower layers may not import higher ones (DESIGN.md: cli -> server/agent/train -> engine -> model/chat/tokenizer).
FORBIDDEN = {"engine": ("server", "agent", "train", "cli"), "server": ("agent", "train", "cli")}


def modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def layer_modules(folder: str) -> list[Path]:
    """A layer's modules, less its cli.py: each package's cli.py is its part of the command line, the top layer,
    where the layers below meet (`openk2 serve` plugs the agent's sessions into the server's app)."""
    return [path for path in modules(folder) if path.name != "cli.py"]


def test_imports_point_downward():
    wrong = []
    for layer, above in FORBIDDEN.items():
        for path in layer_modules(layer):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level >= 2 and (node.module or "").split(".")[0] in above:
                    wrong.append(f"{path.relative_to(PACKAGE)} imports {node.module}")
                if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("openk2."):
                    if node.module.split(".")[1] in above:
                        wrong.append(f"{path.relative_to(PACKAGE)} imports {node.module}")
    assert not wrong, wrong


def test_the_server_uses_only_the_engines_public_properties():
    """Attribute reads on anything named engine/llm in the server: never `.llm`, never a `_private` one."""
    wrong = []
    for path in modules("server"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
            if owner in ("engine", "llm") and (node.attr == "llm" or node.attr.startswith("_")):
                wrong.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {owner}.{node.attr}")
    assert not wrong, wrong
