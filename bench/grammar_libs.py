"""llguidance vs xgrammar for constrained decoding on CPU, on openk2's tokenizer, in one run.

    .venv/bin/python bench/grammar_libs.py [--walks 16] [--max-steps 500] [--repeat 3]

For each library and two vocabularies (16,384 ids: write_default_tokenizer; 65,536 ids: the same BPE
trained on the whole stdlib corpus, whose default third supports only ~37k tokens; K2's 163,840 is
not downloadable here) it measures:
  (a) one-time tokenizer/vocabulary setup;
  (b) JSON-schema compile time for three schemas (simple, nested with enums/arrays/integer bounds,
      30 properties): first compile, a second compile of the same schema (caching), and the first
      mask after it (llguidance builds its lexer lazily, so compile alone would flatter it);
  (c) per-token mask time, mean/p50/p99, over seeded random walks: each step fills the bitmask,
      picks a uniformly random allowed token and consumes it, until a stop token is picked or
      --max-steps; fastest of --repeat passes over the same walks; finished outputs are checked
      with json.loads (strict JSON: no raw control characters in strings) and jsonschema.
(d) whether K2's tool-call framing, special tokens included, is one grammar: the id sequence must be
    accepted, the markers spelled as plain text rejected, and no special id may be allowed inside
    the JSON argument's strings (else the model can end a call from inside a string).
(e) install footprint: Requires, and installed bytes (from each distribution's RECORD) of the
    library, its dependency closure, and the part of that closure openk2's own deps do not pull in.
Ends with a conclusion derived from these numbers. Single-threaded (OMP_NUM_THREADS=1, one torch
thread, xgrammar compiler max_threads=1) so the libraries compete on equal terms; ~15 s on 2 cores.
Without xgrammar installed it measures llguidance only.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported

import argparse
import contextlib
import json
import math
import random
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import torch
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from openk2.tokenizer import Tokenizer, default_corpus, train_bpe, write_default_tokenizer

torch.set_num_threads(1)

try:
    import xgrammar as xgr
except ImportError:
    xgr = None
import llguidance
import llguidance.torch as llg_torch

try:
    import jsonschema
except ImportError:
    jsonschema = None
try:
    import tomllib  # Python 3.11+
except ImportError:
    tomllib = None

VOCAB_SIZES = (16384, 65536)
REPO = Path(__file__).resolve().parents[1]

# Every string has maxLength or is an enum and every object is closed, so a random walk ends.
SIMPLE = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 24}, "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
NESTED = {
    "type": "object",
    "properties": {
        "user": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 16},
                "age": {"type": "integer", "minimum": 0, "maximum": 120},
                "role": {"enum": ["admin", "editor", "viewer"]},
            },
            "required": ["name", "age", "role"],
            "additionalProperties": False,
        },
        "tags": {"type": "array", "items": {"enum": ["red", "green", "blue", "urgent"]}, "maxItems": 4},
        "items": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "maxLength": 8},
                    "qty": {"type": "integer", "minimum": 1, "maximum": 99},
                },
                "required": ["sku", "qty"],
                "additionalProperties": False,
            },
        },
        "priority": {"type": "integer", "minimum": 1, "maximum": 5},
        "express": {"type": "boolean"},
    },
    "required": ["user", "items", "priority"],
    "additionalProperties": False,
}


def big_schema(n: int = 30) -> dict:
    """n properties cycling through string/integer/enum/boolean; every third one required."""
    kinds = [
        {"type": "string", "maxLength": 12},
        {"type": "integer", "minimum": -1000, "maximum": 1000},
        {"enum": ["low", "medium", "high", "critical"]},
        {"type": "boolean"},
    ]
    properties = {f"field_{i:02d}": kinds[i % len(kinds)] for i in range(n)}
    return {"type": "object", "properties": properties, "required": list(properties)[::3], "additionalProperties": False}


SCHEMAS = {"simple": SIMPLE, "nested": NESTED, "big-30": big_schema()}
TOOL_NAME = "functions.get_weather:0"
MARKERS = ("<|tool_calls_section_begin|>", "<|tool_call_begin|>", "<|tool_call_argument_begin|>",
           "<|tool_call_end|>", "<|tool_calls_section_end|>")


def framing_lark(schema: dict) -> str:
    """K2's tool-call section with one call, in Lark; `<|name|>` names a special token."""
    m = MARKERS
    return f'start: {m[0]} {m[1]} "{TOOL_NAME}" {m[2]} %json {json.dumps(schema)} {m[3]} {m[4]}'


# ---- vocabularies ---------------------------------------------------------------------------------


def build_tokenizer(vocab_size: int) -> Tokenizer:
    if vocab_size <= 32768:
        with tempfile.TemporaryDirectory() as path:
            write_default_tokenizer(Path(path), vocab_size)
            return Tokenizer.from_dir(path)
    # write_default_tokenizer's corpus (a third of the stdlib) supports ~37k tokens; all of it, ~65k.
    return train_bpe(default_corpus(0, 1), vocab_size)


# ---- the two libraries behind one interface ---------------------------------------------------------


class LLG:
    name = "llguidance"

    def __init__(self, tok: Tokenizer):
        enc = tok._encoding
        self.tokenizer = llguidance.LLTokenizer.from_tiktoken(
            encoder=enc._mergeable_ranks, special_tokens=enc._special_tokens, pattern=enc._pat_str,
            eos_token=tok.stop_ids, n_vocab=tok.vocab_size,
        )

    def compile(self, schema: dict):
        # Compact JSON, as xgrammar's any_whitespace=False: free whitespace lets a random walk wander.
        grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, overrides={"whitespace_flexible": False})
        return self.compile_lark_or_json(grammar)

    def compile_lark_or_json(self, grammar: str):
        matcher = llguidance.LLMatcher(self.tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise ValueError(matcher.get_error())
        return grammar  # llguidance has no compiled artifact to share; each matcher parses the grammar

    def matcher(self, compiled):
        return llguidance.LLMatcher(self.tokenizer, compiled, log_level=0)

    def fill(self, matcher, bitmask) -> None:
        llg_torch.fill_next_token_bitmask(matcher, bitmask, 0)

    def consume(self, matcher, token: int) -> bool:
        return matcher.consume_token(token)

    def framing(self, tok: Tokenizer, schema: dict) -> list[tuple[str, object]]:
        """Lark can name special tokens: `<|name|>` matches that id only, never its text spelling."""
        return [("Lark <|special|> + %json", lambda: self.compile_lark_or_json(framing_lark(schema)))]


class XGR:
    name = "xgrammar"

    def __init__(self, tok: Tokenizer, named_specials: bool = False):
        # RAW vocab of each id's bytes. Special ids get b"" (xgrammar then treats them as special and
        # never lets them into text) unless named_specials, which gives them their names so that
        # Lark `<|name|>` and TokenFormat can find them, at the price of treating them as text.
        n_bpe, enc = tok.n_bpe, tok._encoding
        vocab = [enc.decode_single_token_bytes(i) if i < n_bpe or named_specials else b"" for i in range(tok.vocab_size)]
        self.info = xgr.TokenizerInfo(vocab, xgr.VocabType.RAW, vocab_size=tok.vocab_size, stop_token_ids=tok.stop_ids)
        self.compiler = xgr.GrammarCompiler(self.info, max_threads=1)

    def compile(self, schema: dict):
        return self.compiler.compile_json_schema(json.dumps(schema), any_whitespace=False, separators=(",", ":"))

    def matcher(self, compiled):
        return xgr.GrammarMatcher(compiled)

    def fill(self, matcher, bitmask) -> None:
        matcher.fill_next_token_bitmask(bitmask, 0)

    def consume(self, matcher, token: int) -> bool:
        return matcher.accept_token(token)

    def framing(self, tok: Tokenizer, schema: dict) -> list[tuple[str, object]]:
        from xgrammar.structural_tag import (
            ConstStringFormat,
            JSONSchemaFormat,
            SequenceFormat,
            StructuralTag,
            TokenFormat,
        )

        lark = framing_lark(schema)

        def tag(token: list[TokenFormat]) -> StructuralTag:
            return StructuralTag(format=SequenceFormat(elements=[
                token[0], token[1], ConstStringFormat(value=TOOL_NAME), token[2],
                JSONSchemaFormat(json_schema=schema), token[3], token[4],
            ]))

        by_name = tag([TokenFormat(token=m) for m in MARKERS])
        by_id = tag([TokenFormat(token=tok.special_id(m)) for m in MARKERS])
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": schema}}]
        return [
            ("Lark <|special|> + %json", lambda: self.compiler.compile_lark(lark)),
            ("structural tag, TokenFormat(name)", lambda: self.compiler.compile_structural_tag(by_name)),
            ("structural tag, TokenFormat(id)", lambda: self.compiler.compile_structural_tag(by_id)),
            ('builtin get_model_structural_tag("kimi")', lambda: self.compiler.compile_structural_tag(
                xgr.get_model_structural_tag("kimi", tools=tools, tool_choice="required", reasoning="disabled"))),
        ]


# ---- measurements ---------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet_stderr():
    """Silence fd 2: xgrammar's C++ logs a warning per rejected special token, which is expected here."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def allowed_ids(bitmask: torch.Tensor, vocab_size: int, shifts: torch.Tensor) -> torch.Tensor:
    return (((bitmask[0].unsqueeze(1) >> shifts) & 1).flatten()[:vocab_size]).nonzero().flatten()


def random_walk(lib, compiled, vocab_size: int, stop_ids: list[int], rng: random.Random, max_steps: int):
    """(mask seconds per step, consume seconds per step, ids, ended by a stop token, error)."""
    matcher = lib.matcher(compiled)
    bitmask = torch.full((1, (vocab_size + 31) // 32), -1, dtype=torch.int32)
    shifts = torch.arange(32, dtype=torch.int32)
    masks, consumes, ids = [], [], []
    for _ in range(max_steps):
        start = time.perf_counter()
        lib.fill(matcher, bitmask)
        masks.append(time.perf_counter() - start)
        allowed = allowed_ids(bitmask, vocab_size, shifts)
        if allowed.numel() == 0:
            return masks, consumes, ids, False, "empty mask"
        token = int(allowed[rng.randrange(allowed.numel())])
        start = time.perf_counter()
        ok = lib.consume(matcher, token)
        consumes.append(time.perf_counter() - start)
        if not ok:
            return masks, consumes, ids, False, f"allowed token {token} rejected"
        if token in stop_ids:
            return masks, consumes, ids, True, None
        ids.append(token)
    return masks, consumes, ids, False, None


def json_problem(tok: Tokenizer, ids: list[int], schema: dict) -> str | None:
    """Why the walk's output is not a valid instance of `schema` (strict JSON), or None."""
    try:
        value = json.loads(tok.decode_bytes(ids))
    except UnicodeDecodeError:
        return "not UTF-8"
    except json.JSONDecodeError as error:
        if error.msg.startswith("Invalid control character"):
            return "json.loads: raw control character (U+0000..U+001F) inside a string"
        return f"json.loads: {error.msg}"
    if jsonschema is not None:
        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as error:
            return f"jsonschema: {error.message[:60]}"
    return None


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def bench_schema(lib, tok: Tokenizer, schema: dict, walks: int, max_steps: int, repeat: int) -> dict:
    compiled, first = timed(lib.compile, schema)
    _, second = timed(lib.compile, schema)
    matcher = lib.matcher(compiled)
    bitmask = torch.full((1, (tok.vocab_size + 31) // 32), -1, dtype=torch.int32)
    _, first_mask = timed(lib.fill, matcher, bitmask)
    # The same seeded walks `repeat` times; timings from the pass with the lowest mean mask time,
    # since other processes on a shared box only ever add time. The tokens are the same each pass.
    best = None
    for _ in range(repeat):
        masks, consumes, outputs = [], [], []
        for seed in range(walks):
            m, c, ids, done, error = random_walk(lib, compiled, tok.vocab_size, tok.stop_ids, random.Random(seed), max_steps)
            masks += m
            consumes += c
            outputs.append((ids, done, error))
        if best is None or statistics.fmean(masks) < statistics.fmean(best[0]):
            best = masks, consumes, outputs
    masks, consumes, outputs = best
    errors = [error for _, _, error in outputs if error]
    problems = [p for ids, done, _ in outputs if done and (p := json_problem(tok, ids, schema))]
    finished = sum(done for _, done, _ in outputs)
    return dict(compile=first, compile2=second, first_mask=first_mask, mask_mean=statistics.fmean(masks),
                mask_p50=statistics.median(masks), mask_p99=p99(masks), consume_mean=statistics.fmean(consumes),
                steps=len(masks), tokens=statistics.fmean(len(ids) for ids, _, _ in outputs), finished=finished,
                valid=finished - len(problems), walks=walks, errors=errors, problems=problems)


def specials_inside_string(lib, compiled, tok: Tokenizer, prefix: list[int]) -> list[str] | None:
    """Names of the special ids the mask allows after `prefix`, which ends inside a JSON string."""
    matcher = lib.matcher(compiled)
    for t in prefix:
        if not lib.consume(matcher, t):
            return None
    bitmask = torch.full((1, (tok.vocab_size + 31) // 32), -1, dtype=torch.int32)
    lib.fill(matcher, bitmask)
    allowed = allowed_ids(bitmask, tok.vocab_size, torch.arange(32, dtype=torch.int32))
    return [tok.special_names[int(i)] for i in allowed if i >= tok.n_bpe]


def check_framing(lib, tok: Tokenizer) -> list[dict]:
    """Compile K2's tool-call framing around SIMPLE and test it on real ids."""
    special = [tok.special_id(m) for m in MARKERS]
    arguments = tok.encode('{"city":"Paris","unit":"celsius"}')
    call = [special[0], special[1], *tok.encode(TOOL_NAME), special[2], *arguments, special[3], special[4]]
    inside_string = call[: call.index(special[2]) + 1] + tok.encode('{"city":"Pa')
    rows = []
    for route, compile_fn in lib.framing(tok, SIMPLE):
        row = dict(route=route, compiles=False, accepts_ids=False, rejects_text=False, specials_in_string=None, note="")
        try:
            compiled = compile_fn()
        except Exception as error:  # noqa: BLE001 -- any failure means "cannot express it this way"
            message = str(error).splitlines()[0]
            row["note"] = "compile error: " + message.split(" is false: ")[-1][:100]
            rows.append(row)
            continue
        row["compiles"] = True
        matcher = lib.matcher(compiled)
        consumed = 0
        for t in call:
            if not lib.consume(matcher, t):
                break
            consumed += 1
        # Complete = the call, then a stop token, is accepted.
        row["accepts_ids"] = consumed == len(call) and lib.consume(matcher, tok.stop_ids[0])
        if not row["accepts_ids"]:
            row["note"] = f"rejected id {consumed} of {len(call)}"
        text_spelling = tok.encode(MARKERS[0])  # the marker as ordinary BPE tokens
        matcher = lib.matcher(compiled)
        row["rejects_text"] = not all(lib.consume(matcher, t) for t in text_spelling)
        leaked = specials_inside_string(lib, compiled, tok, inside_string)
        row["specials_in_string"] = None if leaked is None else len(leaked)
        if leaked:
            shown = sorted(leaked, key=lambda name: name not in MARKERS)[:2]  # the tool-call markers first
            row["note"] = f"allowed inside the string: {', '.join(shown)}, ..."
        rows.append(row)
    return rows


def framing_ok(row: dict) -> bool:
    return row["compiles"] and row["accepts_ids"] and row["rejects_text"] and row["specials_in_string"] == 0


# ---- install footprint ------------------------------------------------------------------------------


def dist_requires(name: str) -> list[str]:
    """Direct requirements that apply here (markers evaluated, extras dropped)."""
    names = []
    for spec in metadata.distribution(name).requires or []:
        req = Requirement(spec)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            names.append(canonicalize_name(req.name))
    return names


def closure(names: list[str]) -> set[str]:
    seen, todo = set(), list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        try:
            todo += dist_requires(name)
        except metadata.PackageNotFoundError:
            continue  # required but not installed here: nothing to measure
        seen.add(name)
    return seen


def installed_bytes(name: str) -> int:
    """Bytes of every file the distribution's RECORD lists (what `du` of its directories counts)."""
    total = 0
    for f in metadata.distribution(name).files or []:
        path = f.locate()
        if path.is_file():
            total += path.stat().st_size
    return total


def openk2_core_deps() -> set[str]:
    """openk2's dependency closure, from pyproject.toml (an editable install's metadata can be stale)."""
    if tomllib is not None:
        specs = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    else:
        specs = [s for s in metadata.distribution("openk2").requires or [] if "extra ==" not in s]
    return closure([Requirement(spec).name for spec in specs])


def footprint(name: str, core: set[str]) -> dict:
    deps = closure(dist_requires(name))
    extra = sorted(deps - core)
    sizes = {d: installed_bytes(d) for d in deps}
    return dict(requires=dist_requires(name), own=installed_bytes(name), closure=sum(sizes.values()),
                extra=extra, extra_bytes=sum(sizes[d] for d in extra),
                biggest=sorted(((sizes[d], d) for d in extra), reverse=True)[:4])


# ---- report --------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f}"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:7.0f}"


def mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e3:,.0f} kB"


def conclusion(results: dict, framing: dict, prints: dict) -> str:
    leaks = {lib: [row["specials_in_string"] for key, rows in framing.items() if key.startswith(lib) for row in rows
                   if row["accepts_ids"] and row["rejects_text"]] for lib in results}
    slowest = {lib: max(r["mask_mean"] for r in cells.values()) for lib, cells in results.items()}
    # Any route in any configuration of the library counts ("xgrammar" and "xgrammar, specials as b''").
    frames = {lib: [row["route"] for key, rows in framing.items() if key.startswith(lib) for row in rows if framing_ok(row)]
              for lib in results}
    bad = {lib: (sum(len(r["errors"]) for r in cells.values()), sum(len(r["problems"]) for r in cells.values()),
                 sum(r["finished"] for r in cells.values())) for lib, cells in results.items()}

    def framing_text(lib: str) -> str:
        if frames[lib]:
            return "OK via " + " and ".join(frames[lib])
        if leaks[lib]:
            return (f"fails: the routes that match the markers by id also allow up to {max(leaks[lib])} special ids "
                    "inside JSON strings, and a vocab that keeps specials out of text cannot match the markers")
        return "fails: no route accepts the markers by id and rejects their text spelling"

    def summary(lib: str) -> str:
        errors, invalid, finished = bad[lib]
        return (f"{lib}: slowest mean mask {slowest[lib] * 1e6:.0f} us/token (alone that caps one stream at "
                f"{1 / slowest[lib]:,.0f} tok/s), {invalid}/{finished} finished walks invalid JSON, {errors} walk errors, "
                f"tool-call framing {framing_text(lib)}, "
                f"adds {mb(prints[lib]['extra_bytes'])} to openk2's deps")

    if xgr is None:
        return (summary("llguidance") + ". xgrammar is not installed, so there is nothing to compare: "
                "`pip install xgrammar` and rerun.")
    a, b = "llguidance", "xgrammar"
    cells = results[a].keys() & results[b].keys()

    def geo(key) -> float:  # geometric mean of xgrammar / llguidance over cells; > 1: llguidance is faster
        value = (lambda r: r[key]) if isinstance(key, str) else key
        return math.exp(statistics.fmean(math.log(value(results[b][c]) / value(results[a][c])) for c in cells))

    def faster(ratio: float) -> str:
        return f"llguidance {ratio:.1f}x faster" if ratio >= 1 else f"xgrammar {1 / ratio:.1f}x faster"

    cached = {lib: statistics.fmean(r["compile2"] / r["compile"] for r in results[lib].values()) < 0.2 for lib in (a, b)}
    # Correctness first (framing with special tokens, valid JSON), then speed if > 2x apart, then footprint.
    correct = {lib: bool(frames[lib]) and bad[lib][0] + bad[lib][1] == 0 for lib in (a, b)}
    if correct[a] != correct[b]:
        pick = a if correct[a] else b
        why = f"only {pick} both frames K2's tool calls with special tokens exactly and produced only valid JSON"
    elif max(geo("mask_mean"), 1 / geo("mask_mean")) > 2:
        pick = a if geo("mask_mean") > 1 else b
        why = "both are correct here and its masks are more than 2x faster"
    else:
        pick = a if prints[a]["extra_bytes"] <= prints[b]["extra_bytes"] else b
        why = "correctness and speed do not separate them, and it installs less"
    return (
        f"Per-token mask (geometric mean over {len(cells)} vocab x schema cells): "
        f"{faster(geo('mask_mean'))} on the mean, {faster(geo('mask_p50'))} on the median, "
        f"{faster(geo('mask_p99'))} on p99; new schema to first mask (compile + first mask): "
        f"{faster(geo(lambda r: r['compile'] + r['first_mask']))}; a second compile of the same schema is "
        f"{'cached' if cached[b] else 'not cached'} in xgrammar, {'cached' if cached[a] else 'not cached'} in llguidance. "
        f"{summary(a)}; {summary(b)}. Choose {pick}: {why}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--walks", type=int, default=16, help="random walks per library x vocab x schema")
    parser.add_argument("--max-steps", type=int, default=500, help="tokens per walk at most")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the walks; timings of the fastest")
    args = parser.parse_args()

    libraries = [LLG] + ([XGR] if xgr is not None else [])
    if xgr is None:
        print("xgrammar is not installed: measuring llguidance only (`pip install xgrammar` to compare)\n")
    results = {lib.name: {} for lib in libraries}
    setups = {lib.name: {} for lib in libraries}
    framing = {}
    for vocab_size in VOCAB_SIZES:
        tok, seconds = timed(build_tokenizer, vocab_size)
        specials = tok.vocab_size - tok.n_bpe
        print(f"vocab {tok.vocab_size:,} ({tok.n_bpe:,} BPE + {specials} special), trained in {seconds:.1f} s")
        libs = {}
        for lib_class in libraries:
            libs[lib_class.name], setups[lib_class.name][vocab_size] = timed(lib_class, tok)
        # Libraries take turns per schema so that load from other processes hits both alike.
        for schema_name, schema in SCHEMAS.items():
            for name, lib in libs.items():
                cell = bench_schema(lib, tok, schema, args.walks, args.max_steps, args.repeat)
                results[name][(vocab_size, schema_name)] = cell
        if vocab_size == VOCAB_SIZES[0]:
            with quiet_stderr():  # xgrammar's C++ logs each special id it rejects
                framing["llguidance"] = check_framing(libs["llguidance"], tok)
                if xgr is not None:
                    # Named specials, so that xgrammar can reference them; then the vocab the timings
                    # use (specials as b"", never text), which cannot.
                    framing["xgrammar"] = check_framing(XGR(tok, named_specials=True), tok)
                    framing["xgrammar, specials as b\"\""] = check_framing(libs["xgrammar"], tok)

    print("\n(a) setup: tokenizer / vocabulary, once per process (ms)")
    for name, by_vocab in setups.items():
        print(f"  {name:11s}" + "".join(f"   vocab {v:>6,}: {ms(s)}" for v, s in by_vocab.items()))

    print("\n(b, c) per schema; compile, again, 1st mask in ms; mask mean/p50/p99 and consume mean in us per token; "
          f"{args.walks} walks of <= {args.max_steps} steps, fastest of {args.repeat} passes")
    header = (f"  {'library':11s} {'vocab':>6s} {'schema':7s} {'compile':>8s} {'again':>8s} {'1st mask':>8s} "
              f"{'mean':>7s} {'p50':>7s} {'p99':>7s} {'consume':>7s} {'steps':>6s} {'tok/walk':>8s} "
              f"{'done':>5s} {'valid':>5s}")
    print(header)
    for name, by_cell in results.items():
        for (vocab_size, schema_name), r in by_cell.items():
            print(f"  {name:11s} {vocab_size:>6d} {schema_name:7s} "
                  f"{ms(r['compile'])} {ms(r['compile2'])} {ms(r['first_mask'])} {us(r['mask_mean'])} "
                  f"{us(r['mask_p50'])} {us(r['mask_p99'])} {us(r['consume_mean'])} {r['steps']:6d} "
                  f"{r['tokens']:8.1f} {r['finished']:2d}/{r['walks']:<2d} {r['valid']:2d}/{r['finished']:<2d}")
            for error in sorted(set(r["errors"])):
                print(f"      walk error: {error}")
            for problem in sorted(set(r["problems"])):
                print(f"      invalid output ({r['problems'].count(problem)}x): {problem}")

    print(f"\n(d) K2 tool-call framing around the simple schema (vocab {VOCAB_SIZES[0]:,}): ids = accepts the call's id "
          "sequence then a stop id; text = rejects the first marker spelled as ordinary tokens; in-str = special "
          'ids the mask allows after {"city":"Pa (must be 0)')
    for name, rows in framing.items():
        print(f"  {name}")
        for row in rows:
            verdict = "OK" if framing_ok(row) else "no"
            print(f"    {row['route']:42s} compiles={'yes' if row['compiles'] else 'no':3s} "
                  f"ids={'yes' if row['accepts_ids'] else 'no':3s} text={'yes' if row['rejects_text'] else 'no':3s} "
                  f"in-str={row['specials_in_string']!s:4s} -> {verdict:2s} {row['note']}")

    print("\n(e) install footprint (bytes from each distribution's RECORD)")
    core = openk2_core_deps()
    prints = {}
    for lib_class in libraries:
        f = prints[lib_class.name] = footprint(lib_class.name, core)
        print(f"  {lib_class.name:11s} own {mb(f['own']):>8s}   Requires: {', '.join(f['requires']) or '(none)'}")
        print(f"  {'':11s} with all its deps {mb(f['own'] + f['closure'])}; not already needed by openk2: "
              f"{mb(f['extra_bytes'])} ({', '.join(f'{d} {mb(s)}' for s, d in f['biggest']) or 'nothing'}"
              f"{', ...' if len(f['extra']) > 4 else ''})")

    print("\nConclusion: " + conclusion(results, framing, prints))


if __name__ == "__main__":
    main()
