"""BFCL (the Berkeley Function Calling Leaderboard) single-turn categories, scored by the `bfcl-eval` package's
own data and AST checker (`openk2 eval bfcl`; needs `pip install openk2[eval]`).

Each test entry is sent as BFCL's OpenAI function-calling handlers send it (its tools converted by bfcl-eval's
`convert_to_tool`, dots in names replaced by underscores), the answer is put in the shape their
`_parse_query_response_FC` gives (a list of {name: arguments} when the model calls tools, else its text), and
bfcl-eval's per-entry evaluation (decode, format check, `ast_checker`, or the relevance rule) grades it, as for
its registered Kimi-K2 function-calling model. The package version is pinned in the extra: its data and checker
are the benchmark's version.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import openai

from .endpoint import describe_error, is_infrastructure_error
from .metrics import percent
from .report import Chart, Report, Table

# Short names people use -> BFCL v4 category names; every single-turn category scored by AST or relevance.
ALIASES = {"simple": "simple_python", "java": "simple_java", "javascript": "simple_javascript"}
CATEGORIES = ("simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple",
              "irrelevance", "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
              "live_irrelevance", "live_relevance")
DEFAULT_CATEGORIES = "simple,multiple,parallel,parallel_multiple,irrelevance,live_simple"
REGISTRY = "kimi-k2-0905-preview-FC"  # BFCL's entry for K2 in function-calling mode: OpenAI style, "." -> "_"
TEMPERATURE = 0.001  # BFCL's default


def parse_categories(text: str) -> list[str]:
    names = [ALIASES.get(c.strip(), c.strip()) for c in text.split(",") if c.strip()]
    for name in names:
        if name not in CATEGORIES:
            raise ValueError(f"unknown BFCL category {name!r} in --categories; choose from "
                             f"{', '.join(sorted(set(CATEGORIES) | set(ALIASES)))} (comma-separated)")
    if not names:
        raise ValueError("--categories names no category")
    return list(dict.fromkeys(names))


@cache
def bfcl() -> Any:
    """bfcl-eval's modules, imported once. Its import writes result folders under BFCL_PROJECT_ROOT (by default
    next to site-packages): point that at a temporary folder unless the user chose one."""
    os.environ.setdefault("BFCL_PROJECT_ROOT", str(Path(tempfile.gettempdir()) / "openk2-bfcl"))
    try:
        from bfcl_eval import utils
        from bfcl_eval.constants.enums import Language, ModelStyle, ReturnFormat
        from bfcl_eval.constants.type_mappings import GORILLA_TO_OPENAPI
        from bfcl_eval.eval_checker import eval_runner
        from bfcl_eval.model_handler.api_inference.openai_completion import (
            OpenAICompletionsHandler,
        )
        from bfcl_eval.model_handler.base_handler import BaseHandler
        from bfcl_eval.model_handler.utils import convert_to_tool
    except ImportError as error:
        raise ValueError(f"openk2 eval bfcl needs the bfcl-eval package ({error}); install it with "
                         "pip install 'openk2[eval]'") from None

    class Decoder(OpenAICompletionsHandler):
        """BFCL's OpenAI function-calling handler, for decoding answers only: openk2 sends the requests."""

        def __init__(self) -> None:
            BaseHandler.__init__(self, "kimi-k2-0905-preview", TEMPERATURE, REGISTRY, is_fc_model=True)
            self.model_style = ModelStyle.OPENAI_COMPLETIONS

    class Modules:
        pass

    m = Modules()
    m.utils, m.eval_runner, m.convert_to_tool, m.mapping = utils, eval_runner, convert_to_tool, GORILLA_TO_OPENAPI
    m.Language, m.ReturnFormat, m.ModelStyle, m.decoder = Language, ReturnFormat, ModelStyle, Decoder()
    return m


def load(categories: list[str], limit: int | None) -> list[tuple[str, dict]]:
    """(entry id, {category, entry, answer}) for the first `limit` entries of each category, in BFCL's order."""
    m = bfcl()
    trials = []
    for category in categories:
        entries = m.utils.load_dataset_entry(category)
        answers = ({} if m.utils.is_relevance_or_irrelevance(category)
                   else {a["id"]: a["ground_truth"] for a in m.utils.load_ground_truth_entry(category)})
        for entry in entries[:limit]:
            trials.append((entry["id"], {"category": category, "entry": entry, "answer": answers.get(entry["id"])}))
    return trials


def request(entry: dict, model: str, temperature: float, max_tokens: int | None) -> dict:
    """The chat completion request BFCL's OpenAI function-calling handler would send for a single-turn entry."""
    m = bfcl()
    body = {"model": model, "messages": entry["question"][0], "temperature": temperature,
            "tools": m.convert_to_tool(entry["function"], m.mapping, m.ModelStyle.OPENAI_COMPLETIONS)}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


def grade(category: str, entry: dict, answer: Any, result: Any) -> dict:
    """bfcl-eval's verdict on one answer: {"valid": bool, "error": [...], "error_type": str} (no error when valid)."""
    m = bfcl()
    if m.utils.is_relevance_or_irrelevance(category):
        verdict = m.eval_runner._evaluate_single_relevance_entry(m.decoder, entry["id"], result, entry, REGISTRY, category)
    else:
        language, return_format = ((m.Language.JAVA, m.ReturnFormat.JAVA) if m.utils.is_java(category) else
                                   (m.Language.JAVASCRIPT, m.ReturnFormat.JAVASCRIPT) if m.utils.is_js(category) else
                                   (m.Language.PYTHON, m.ReturnFormat.PYTHON))
        verdict = m.eval_runner._evaluate_single_ast_entry(m.decoder, entry["id"], result, answer, entry, REGISTRY,
                                                          category, language, return_format, has_tool_call_tag=False)
    return {"valid": bool(verdict["valid"]), "error": verdict.get("error", []), "error_type": verdict.get("error_type")}


async def run_entry(api: openai.AsyncOpenAI, trial: dict, model: str, temperature: float, max_tokens: int | None) -> dict:
    """Ask the endpoint, shape its answer as BFCL's handler does, grade it. An answer the endpoint refuses (4xx)
    counts as wrong; connection errors and 5xx are raised (retried on resume)."""
    entry = trial["entry"]
    body = request(entry, model, temperature, max_tokens)
    usage = {"prompt_tokens": 0, "completion_tokens": 0}
    try:
        response = await api.chat.completions.create(**body)
    except openai.APIError as error:
        if is_infrastructure_error(error):
            raise
        result: Any = f"(request refused: {describe_error(error)})"
    else:
        message = response.choices[0].message
        # As BFCL's _parse_query_response_FC: the calls as {name: arguments text}, or the text when there are none.
        result = ([{call.function.name: call.function.arguments} for call in message.tool_calls]
                  if message.tool_calls else message.content)
        if response.usage:
            usage = {"prompt_tokens": response.usage.prompt_tokens, "completion_tokens": response.usage.completion_tokens}
    verdict = grade(trial["category"], entry, trial["answer"], result)
    return {"category": trial["category"], "result": result, **verdict, **usage}


def summarize(records: list[dict], categories: list[str]) -> dict[str, Any]:
    per_category = {}
    for category in categories:
        rows = [r for r in records if r["category"] == category]
        per_category[category] = {"accuracy": sum(r["valid"] for r in rows) / len(rows) if rows else None,
                                  "entries": len(rows), "correct": sum(r["valid"] for r in rows)}
    scored = [c["accuracy"] for c in per_category.values() if c["accuracy"] is not None]
    return {"overall_accuracy": sum(scored) / len(scored) if scored else None,  # unweighted mean, as BFCL's summaries
            "categories": per_category, "entries": len(records),
            "prompt_tokens": sum(r["prompt_tokens"] for r in records),
            "completion_tokens": sum(r["completion_tokens"] for r in records)}


def report(records: list[dict], categories: list[str], model: str, command: str) -> Report:
    summary = summarize(records, categories)
    summary["model"] = model
    rows = [[c, percent(s["accuracy"]), f"{s['correct']}/{s['entries']}"] for c, s in summary["categories"].items()]
    rows.append(["**overall** (unweighted mean)", percent(summary["overall_accuracy"]), f"{sum(r['valid'] for r in records)}/{len(records)}"])
    tables = [Table(f"BFCL (bfcl-eval's AST checker) · {model}", ["category", "accuracy", "correct"], rows)]
    errors = Counter(r["error_type"] for r in records if not r["valid"])
    if errors:
        tables.append(Table("Errors by bfcl-eval's error type", ["count", "error_type"],
                            [[n, kind] for kind, n in errors.most_common(10)]))
    chart = Chart("accuracy per category", [*summary["categories"], "overall"],
                  [s["accuracy"] for s in summary["categories"].values()] + [summary["overall_accuracy"]])
    return Report("bfcl", f"openk2 eval bfcl · {model}", command, summary, tables, [chart])
