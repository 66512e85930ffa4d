"""A request's state in the engine: its sampling parameters, tokens, cache blocks and progress."""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field

from .detokenizer import Detokenizer

MAX_STOP_STRINGS = 16
MAX_STOP_TOKEN_IDS = 64
MAX_TOP_LOGPROBS = 20
MAX_LOGIT_BIAS = 300  # entries, as OpenAI allows
GREEDY_BELOW_TEMPERATURE = 1e-5


@dataclass
class SamplingParams:
    """How to pick each next token. temperature 0 (or below 1e-5) means greedy; the other knobs then do nothing."""

    max_tokens: int = 256
    temperature: float = 1.0
    top_k: int = 0  # 0: off
    top_p: float = 1.0
    min_p: float = 0.0
    presence_penalty: float = 0.0  # OpenAI semantics: on generated tokens
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0  # HF/CTRL semantics: on prompt and generated tokens
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    ignore_eos: bool = False
    logprobs: bool = False
    top_logprobs: int = 0
    # OpenAI's logit_bias: added to the logits of these token ids before sampling (greedy too); +-100 bans or forces.
    logit_bias: dict[int, float] = field(default_factory=dict)
    # Guided decoding: every generated token must keep the output inside this grammar (llguidance's
    # Lark dialect, with `%json {schema}` and `<|special|>` tokens; see engine/grammar.py). The
    # output ends when the grammar is complete.
    grammar: str | None = None
    # Who the request runs for (an API key's name; None: anonymous). Not about sampling: the scheduler shares the
    # running batch fairly between owners, so one client's burst cannot hold everybody else's requests back.
    owner: str | None = None

    def validate(self, vocab_size: int) -> None:
        """Raise ValueError naming the offending parameter."""
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive integer, got {self.max_tokens!r}")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not 0 <= self.min_p <= 1:
            raise ValueError(f"min_p must be in [0, 1], got {self.min_p!r}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(f"top_k must be a non-negative integer, got {self.top_k!r}")
        for name in ("presence_penalty", "frequency_penalty"):
            if not -2 <= getattr(self, name) <= 2:
                raise ValueError(f"{name} must be in [-2, 2], got {getattr(self, name)!r}")
        if not self.repetition_penalty > 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty!r}")
        if len(self.stop) > MAX_STOP_STRINGS:
            raise ValueError(f"stop may hold at most {MAX_STOP_STRINGS} strings, got {len(self.stop)}")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise ValueError("stop strings must be non-empty strings")
        if len(self.stop_token_ids) > MAX_STOP_TOKEN_IDS:
            raise ValueError(f"stop_token_ids may hold at most {MAX_STOP_TOKEN_IDS} ids, got {len(self.stop_token_ids)}")
        if any(not 0 <= t < vocab_size for t in self.stop_token_ids):
            raise ValueError(f"stop_token_ids must be token ids in [0, {vocab_size})")
        if self.seed is not None and not (isinstance(self.seed, int) and -(2**63) <= self.seed < 2**64):
            # torch.Generator.manual_seed's range; outside it the engine thread would fail mid-step
            raise ValueError(f"seed must be an integer in [-2**63, 2**64), got {self.seed!r}")
        if self.grammar is not None and (not isinstance(self.grammar, str) or not self.grammar.strip()):
            raise ValueError("grammar must be a non-empty string")
        if len(self.logit_bias) > MAX_LOGIT_BIAS:
            raise ValueError(f"logit_bias may hold at most {MAX_LOGIT_BIAS} tokens, got {len(self.logit_bias)}")
        for token, bias in self.logit_bias.items():
            if not isinstance(token, int) or not 0 <= token < vocab_size:
                raise ValueError(f"logit_bias keys must be token ids in [0, {vocab_size}), got {token!r}")
            if not isinstance(bias, (int, float)) or not -100 <= bias <= 100:
                raise ValueError(f"logit_bias values must be numbers in [-100, 100], got {bias!r} for token {token}")
        if not 0 <= self.top_logprobs <= MAX_TOP_LOGPROBS:
            raise ValueError(f"top_logprobs must be in [0, {MAX_TOP_LOGPROBS}], got {self.top_logprobs!r}")

    @property
    def greedy(self) -> bool:
        # Below this, logits / temperature overflows to inf and sampling meets NaN; it is argmax anyway
        # (vLLM draws the line at the same place).
        return self.temperature < GREEDY_BELOW_TEMPERATURE


class Status(enum.Enum):
    WAITING = "waiting"  # queued, holds no cache blocks
    RUNNING = "running"  # holds blocks; prefilling its prompt in chunks or decoding
    FINISHED = "finished"


@dataclass
class TokenEvent:
    """One step's output for one request: a new token (or none, when the request ends without one)."""

    request_id: str
    token_id: int | None
    text: str = ""  # text delta ("" without a tokenizer, or while a stop string may still match)
    logprob: float | None = None
    top_logprobs: list[tuple[int, float]] | None = None
    finish_reason: str | None = None  # "stop", "length", "cancelled", "error" or None while running
    # What ended the request with finish_reason "stop": the stop string that matched, or the token id (an
    # end-of-turn token or one of stop_token_ids; the token is then not text); None when the output ended
    # any other way (a completed grammar, a limit).
    stop: str | int | None = None
    special: bool = False  # token_id is a special token (a marker such as <|tool_call_begin|>), not text
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens served from the prefix cache


_ids = itertools.count()


class Sequence:
    """Token ids (prompt then output), how many of them sit in the cache, and the blocks holding them."""

    def __init__(self, prompt_ids: list[int], params: SamplingParams, request_id: str | None = None):
        self.request_id = request_id if request_id is not None else f"req-{next(_ids)}"
        self.token_ids = list(prompt_ids)
        self.num_prompt_tokens = len(prompt_ids)
        self.params = params
        self.status = Status.WAITING
        self.block_table: list[int] = []
        self.block_hashes: list[int] = []  # chained content hash of each full, computed block
        self.num_computed = 0  # tokens whose latents are in the cache
        self.num_cached_prompt = 0  # of those, taken from the prefix cache at admission
        self.finish_reason: str | None = None
        self.generator = None  # torch.Generator for seeded sampling, made by the sampler
        self.matcher = None  # llguidance matcher following the output, for guided decoding
        self.detokenizer: Detokenizer | None = None  # the output's text, when the engine has a tokenizer
        self.stop: str | int | None = None  # what ended it, as TokenEvent.stop

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def text(self) -> str:
        """The output's text so far ("" without a tokenizer), without a matched stop string."""
        return self.detokenizer.text if self.detokenizer is not None else ""

    @property
    def output_ids(self) -> list[int]:
        return self.token_ids[self.num_prompt_tokens:]

    @property
    def num_output_tokens(self) -> int:
        return len(self.token_ids) - self.num_prompt_tokens

    @property
    def is_finished(self) -> bool:
        return self.status is Status.FINISHED
