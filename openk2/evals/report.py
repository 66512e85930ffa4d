"""An eval's report: report.json (everything), report.md (the command to reproduce, then tables) and report.png."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Table:
    """A Markdown table: a title, column names and rows of cells (already formatted)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.columns))) + "|"]
        lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Chart:
    """One horizontal bar panel of the PNG: labels and fractions in [0, 1] (None draws no bar)."""

    title: str
    labels: list[str]
    values: list[float | None]


@dataclass
class Report:
    """What an eval found. `summary` holds the headline numbers (machine-readable, also in the JSON)."""

    eval: str
    title: str
    command: str
    summary: dict[str, Any]
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        parts = [f"# {self.title}", "", "Reproduce:", "", "```bash", self.command, "```", ""]
        parts += [f"- {note}" for note in self.notes] + ([""] if self.notes else [])
        parts += [table.markdown() + "\n" for table in self.tables]
        return "\n".join(parts).rstrip() + "\n"

    def write(self, out: Path) -> dict[str, Path]:
        """report.json, report.md and report.png in `out`; returns their paths."""
        paths = {"json": out / "report.json", "markdown": out / "report.md", "chart": out / "report.png"}
        paths["json"].write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths["markdown"].write_text(self.markdown(), encoding="utf-8")
        draw(self, paths["chart"])
        return paths


def draw(report: Report, path: Path) -> None:
    """The charts side by side as horizontal bars in percent, each bar labelled with its value."""
    from matplotlib.figure import (
        Figure,  # not pyplot: no GUI backend, and a second faster to import
    )

    charts = report.charts or [Chart("(no data)", [], [])]
    height = max(2.5, 0.32 * max(len(c.labels) for c in charts) + 1.2)
    fig = Figure(figsize=(5.2 * len(charts), height))
    for i, chart in enumerate(charts):
        ax = fig.add_subplot(1, len(charts), i + 1)
        values = [0.0 if v is None else 100 * v for v in chart.values]
        positions = list(range(len(chart.labels)))[::-1]  # first label on top
        ax.barh(positions, values, color="#3b6ea8")
        ax.set_yticks(positions, chart.labels, fontsize=8)
        ax.set_xlim(0, 100)
        ax.set_xlabel("%")
        ax.set_title(chart.title, fontsize=10)
        for y, v, raw in zip(positions, values, chart.values, strict=True):
            ax.text(min(v + 1, 88), y, "–" if raw is None else f"{v:.1f}", va="center", fontsize=7)
    fig.suptitle(report.title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


SECRET_OPTIONS = {"api_key", "user_api_key"}


def reproduce_command(ctx: Any, resolved: dict[str, Any] | None = None) -> str:
    """The exact command line of a typer/click invocation `ctx`, every option spelled out with its effective value
    (`resolved` fills in values found at run time, such as the model a server lists). Keys stay out."""
    values = {**ctx.params, **(resolved or {})}
    words = ["openk2", *ctx.command_path.split()[1:]]  # the same whether run as openk2 or python -m openk2
    for param in ctx.command.params:
        if param.param_type_name != "option" or param.name in SECRET_OPTIONS or param.name == "fresh":
            continue
        value = values.get(param.name)
        if value is None:
            continue
        if param.is_flag:
            if param.secondary_opts:
                words.append(param.opts[0] if value else param.secondary_opts[0])
            elif value:
                words.append(param.opts[0])
            continue
        for item in value if param.multiple else [value]:
            words += [param.opts[0], str(item)]
    for param in ctx.command.params:
        if param.param_type_name == "argument" and values.get(param.name) is not None:
            words.append(str(values[param.name]))
    return shlex.join(words)
