"""Guided decoding: a grammar per request masks the logits, so the output always matches it.

Grammars are llguidance's Lark dialect: plain Lark plus `%json {schema}` for a JSON Schema and
`<|name|>` for a special token, which lets one grammar hold K2's tool-call framing and every tool's
argument schema. We chose llguidance over xgrammar after measuring both (`bench/grammar_libs.py`,
random walks over 16K and 65K-token vocabularies, 3 schemas, 96 walks each):
- correctness: llguidance 0/96 invalid JSON; xgrammar 11/96 (raw control characters inside strings),
  and every xgrammar set-up that matches K2's markers by id also allows them inside JSON strings;
- speed: xgrammar's masks are ~8x faster (2-13 us vs 14-91 us mean per token, llguidance's median
  6-10 us), but both are far below a decode step (25 ms on bench/decode.py's model, where the guided
  row measures no overhead beyond noise);
- footprint: llguidance has no dependencies; xgrammar adds 1.2 GB (triton, transformers).

The tokenizer's vocabulary is handed to llguidance once per engine, on first use (at warm-up). Compiled
grammars are kept, keyed by their text, and each request gets a copy of the fresh matcher: repeated
requests (the same response format, the same tools at the same point of a conversation) compile once.
A tool grammar spells out the conversation's next call index, so each new agent turn compiles its own:
a few milliseconds, 24 ms for 60 tools on a 65K vocabulary (`bench/guided.py`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import llguidance
import torch

# K2's own spacing for arguments (`{"city": "Paris"}`), and no free whitespace: a weak model would
# otherwise fill the budget with spaces and newlines.
# lenient: keywords llguidance does not implement are ignored (and reported as warnings), not an error.
JSON_STYLE = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": ", "lenient": True}
_COMPILED_CACHE_SIZE = 128
# A request's schema is hostile input: checking and compiling recurse over it. Real tool schemas sit far inside
# these (a few levels, a few KB); 100 levels of nesting once crashed the checker with a RecursionError (a 500).
MAX_SCHEMA_DEPTH = 64  # nested JSON objects and arrays (a schema level with `properties` takes two)
MAX_SCHEMA_BYTES = 256 * 1024
# Tokens a grammar may force before the model chooses anything. A required property that refers back to its own
# schema forces `{"a": {"a": ...` without end; llguidance stops at its item limit, tens of thousands of tokens in.
MAX_FORCED_TOKENS = 4096
log = logging.getLogger(__name__)


class GrammarError(ValueError):
    """A grammar, regex or JSON Schema that cannot guide decoding, in one line; `param` names the request field
    it came from, when the caller knows it (the server answers 400 naming it)."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


def json_grammar(schema: dict | bool) -> str:
    """A grammar for one JSON value matching `schema`, in K2's spacing."""
    return f"start: {json_rule(schema)}\n"


def json_rule(schema: dict | bool) -> str:
    """The `%json {...}` rule body for `schema`, to embed in a larger grammar. Keywords llguidance does not implement
    (uniqueItems, not, if/then, contains, ...) are ignored: use enforceable() to learn which, and validate after."""
    return "%json " + json.dumps(_styled(schema), ensure_ascii=False)


@dataclass(frozen=True)
class Enforced:
    """What guided decoding can enforce of a JSON Schema: `schema` itself, or a looser one; `ignored` says what of
    the given schema the grammar leaves unchecked (None: nothing), so that outputs can be validated after."""

    schema: dict | bool
    ignored: str | None = None


def enforceable(schema) -> Enforced:
    """The closest schema the grammar supports: keywords llguidance does not implement are dropped, and a schema
    using a feature it does not support (a look-around `pattern`) is loosened to its type alone; each loosened schema
    is logged once. GrammarError if `schema` is not a valid JSON Schema, is too deep or too large to take from a
    request, or no value can match it."""
    if not isinstance(schema, (dict, bool)):
        raise GrammarError(f"a JSON Schema must be an object, got {type(schema).__name__}")
    if (depth := json_depth(schema)) > MAX_SCHEMA_DEPTH:
        raise GrammarError(f"the schema nests {depth} levels deep; at most {MAX_SCHEMA_DEPTH} are allowed")
    text = json.dumps(schema, sort_keys=True)
    if len(text) > MAX_SCHEMA_BYTES:
        raise GrammarError(f"the schema is {len(text)} bytes as JSON; at most {MAX_SCHEMA_BYTES} are allowed")
    return _enforceable(text)


def json_depth(value) -> int:
    """How deeply dicts and lists nest in `value` (without recursion, so any depth is safe to measure)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


@lru_cache(maxsize=256)  # agents send the same tools every turn
def _enforceable(schema_json: str) -> Enforced:
    import jsonschema

    schema = json.loads(schema_json)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as e:
        where = "/".join(str(p) for p in e.absolute_path)
        raise GrammarError(f"invalid JSON Schema{f' at {where}' if where else ''}: {e.message}") from None
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(json_grammar(schema))
    if not is_error:
        enforced = Enforced(schema, "; ".join(messages) or None)
    else:
        problem = grammar_error(json_grammar(schema))
        if "not supported" not in problem:  # unsatisfiable, a $ref to nowhere: no output could ever be valid
            raise GrammarError(problem)
        kind = schema.get("type") if isinstance(schema, dict) else None  # a look-around pattern: loosen to the type
        enforced = Enforced({"type": kind} if isinstance(kind, (str, list)) else True, problem)
    if enforced.ignored is not None:
        log.warning("guided decoding cannot enforce all of a JSON Schema (%s); outputs are validated against the "
                    "full schema after generation: %.200s", enforced.ignored, schema_json)
    return enforced


def check_json_schema(schema) -> str | None:
    """Why `schema` cannot guide decoding at all (not a valid JSON Schema), in one line; None when it can."""
    try:
        enforceable(schema)
    except GrammarError as e:
        return str(e)
    return None


def grammar_for(json_schema=None, regex: str | None = None, choice: list[str] | None = None,
                grammar: str | None = None) -> str:
    """The grammar for the one given: a JSON Schema (what of it the grammar can enforce: enforceable()), a regex,
    literal choices, or a grammar's text. GrammarError with the reason when it cannot guide decoding."""
    if json_schema is not None:
        return json_grammar(enforceable(json_schema).schema)
    if regex is not None:
        text = llguidance.LLMatcher.grammar_from_regex(regex)
    elif choice is not None:
        text = "start: " + " | ".join(json.dumps(c, ensure_ascii=False) for c in choice) + "\n"
    else:
        text = grammar
    problem = grammar_error(text)
    if problem is not None:
        raise GrammarError(problem)
    return text


def grammar_error(grammar: str, tokenizer: llguidance.LLTokenizer | None = None) -> str | None:
    """llguidance's complaint about a grammar, reduced to its first line; None if it compiles."""
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, tokenizer)
    if not is_error:
        return None
    message = messages[0]
    if "failed to compile JSON schema: " in message:
        message = message.split("failed to compile JSON schema: ", 1)[1]
    lines = message.strip().splitlines()
    # A regex error puts its reason on a later line, under a picture of the regex.
    reason = next((line.strip()[len("error: "):] for line in lines[1:] if line.strip().startswith("error: ")), None)
    return f"{lines[0]} {reason}" if reason else lines[0]


def _styled(schema: dict | bool) -> dict | bool:
    if not isinstance(schema, dict):
        return schema
    return {**schema, "x-guidance": {**schema.get("x-guidance", {}), **JSON_STYLE}}


class Grammars:
    """The model's vocabulary in llguidance's form, and compiled grammars ready to copy per request."""

    def __init__(self, tokenizer, vocab_size: int, eos_ids: set[int]):
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.eos_ids = sorted(eos_ids)
        self._lltokenizer: llguidance.LLTokenizer | None = None
        self._compiled: OrderedDict[str, llguidance.LLMatcher] = OrderedDict()
        self._lock = threading.Lock()  # requests compile on server threads, the engine thread reads
        self._executor: llguidance.LLExecutor | None = None
        # Byte -> its 8 bits, for unpacking llguidance's bitmask with one embedding lookup per byte: 15x faster
        # than shifting every int32 for 64 rows of K2's vocabulary (2.2 vs 34 ms, one thread).
        self._byte_bits = ((torch.arange(256)[:, None] >> torch.arange(8)) & 1).bool()

    @property
    def lltokenizer(self) -> llguidance.LLTokenizer:
        """Built once (K2's 164K-token vocabulary takes about a second)."""
        with self._lock:
            if self._lltokenizer is None:
                if self.tokenizer is None:
                    raise ValueError("guided decoding needs the checkpoint's tokenizer (tiktoken.model)")
                encoding = self.tokenizer._encoding
                self._lltokenizer = llguidance.LLTokenizer.from_tiktoken(
                    encoder=encoding._mergeable_ranks, special_tokens=encoding._special_tokens,
                    pattern=encoding._pat_str, eos_token=self.eos_ids, n_vocab=self.vocab_size)
            return self._lltokenizer

    def matcher(self, grammar: str) -> llguidance.LLMatcher:
        """A fresh matcher for `grammar`; GrammarError naming the problem if it does not compile."""
        tokenizer = self.lltokenizer
        with self._lock:
            compiled = self._compiled.get(grammar)
            if compiled is not None:
                self._compiled.move_to_end(grammar)
                return compiled.deep_copy()
        compiled = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
        if compiled.is_error():
            raise GrammarError(f"the grammar does not compile: {grammar_error(grammar, tokenizer) or compiled.get_error()}")
        probe = compiled.deep_copy()
        if len(probe.compute_ff_tokens()) >= MAX_FORCED_TOKENS or probe.is_error():
            raise GrammarError("the grammar forces an endless output before the model can choose anything (a required "
                               "property whose schema refers back to itself?)")
        with self._lock:
            self._compiled[grammar] = compiled
            while len(self._compiled) > _COMPILED_CACHE_SIZE:
                self._compiled.popitem(last=False)
        return compiled.deep_copy()

    def allowed(self, matchers: list[llguidance.LLMatcher], vocab_size: int) -> torch.Tensor:
        """bool [len(matchers), vocab_size]: the tokens each matcher allows next, computed in parallel."""
        if self._executor is None:
            self._executor = llguidance.LLExecutor()
        words = (self.vocab_size + 31) // 32
        bits = torch.zeros(len(matchers), words, dtype=torch.int32)
        self._executor.unsafe_compute_mask_ptr([(m, i) for i, m in enumerate(matchers)], bits.data_ptr(),
                                               words * 4, len(matchers))
        stuck = (bits == 0).all(-1).nonzero().flatten().tolist()
        for row in stuck:  # a matcher in an error state allows nothing: let the request end (consume reports it)
            for eos in self.eos_ids:
                bits[row, eos // 32] |= 1 << (eos % 32) if eos % 32 < 31 else -(1 << 31)
        # Little-endian int32 words: byte k of the row holds tokens 8k .. 8k+7, lowest bit first.
        allowed = torch.nn.functional.embedding(bits.view(torch.uint8).int(), self._byte_bits).view(len(matchers), -1)
        if allowed.shape[1] < vocab_size:  # logits padded past the vocabulary: never allowed
            return torch.nn.functional.pad(allowed, (0, vocab_size - allowed.shape[1]))
        return allowed[:, :vocab_size]
