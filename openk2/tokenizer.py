"""Kimi K2's tokenizer (tiktoken BPE + 256 special-token slots) and a BPE trainer for small vocabularies."""

from __future__ import annotations

import base64
import codecs
import json
import re
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

import tiktoken

# K2's pre-tokenisation regex (tokenization_kimi.py, `pat_str`): Han runs are their own pieces,
# letter runs split at case changes (with English contractions attached), digits in groups of
# at most three. `&&` is character-class intersection, supported by tiktoken's fancy-regex and by
# Oniguruma, the engine behind the `tokenizers` trainer, so both split text the same way.
K2_PATTERN = "|".join(
    [
        r"""[\p{Han}]+""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

# K2 reserves 256 ids after its 163,584 BPE ranks; these are the named ones, by offset from the
# first special id (K2 id - 163584), with HF's `special` flag. The tool-call markers are not
# "special" in K2's tokenizer_config.json, so decode(skip_special_tokens=True) keeps them for the
# tool parser. Every other slot is `<|reserved_token_{id}|>`, as tokenization_kimi.py names them.
NUM_SPECIAL_SLOTS = 256
K2_NUM_BPE = 163_584
K2_SPECIAL_TOKENS: dict[int, tuple[str, bool]] = {
    0: ("[BOS]", True),
    1: ("[EOS]", True),
    2: ("<|im_end|>", True),
    3: ("<|im_user|>", True),
    4: ("<|im_assistant|>", True),
    6: ("<|start_header_id|>", True),
    7: ("<|end_header_id|>", True),
    9: ("[EOT]", True),
    10: ("<|im_system|>", True),
    11: ("<|tool_calls_section_begin|>", False),
    12: ("<|tool_calls_section_end|>", False),
    13: ("<|tool_call_begin|>", False),
    14: ("<|tool_call_argument_begin|>", False),
    15: ("<|tool_call_end|>", False),
    17: ("<|im_middle|>", True),
    254: ("[UNK]", True),
    255: ("[PAD]", True),
}

# tokenizer_config.json's `additional_special_tokens` in K2 (tokenization_kimi.py's default list).
K2_ADDITIONAL_SPECIAL_TOKENS = [
    "<|im_end|>", "<|im_user|>", "<|im_assistant|>", "<|start_header_id|>",
    "<|end_header_id|>", "[EOT]", "<|im_system|>", "<|im_middle|>",
]

# K2 hands tiktoken at most 400k characters at a time, and cuts runs of whitespace or of
# non-whitespace longer than 25k characters (tiktoken's BPE is quadratic in piece length).
# We cut at the same places so that long inputs get exactly K2's token ids.
_MAX_ENCODE_CHARS = 400_000
_MAX_RUN_CHARS = 25_000
_RUN = re.compile(r"\s+|\S+")


def read_tiktoken_model(path: Path) -> dict[bytes, int]:
    """Read a tiktoken BPE rank file: one `base64(token bytes) rank` pair per line."""
    ranks = {}
    for line_number, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError as error:
            raise ValueError(f"{path}:{line_number}: not a `base64 rank` line: {line[:80]!r}") from error
    return ranks


def write_tiktoken_model(path: Path, ranks: dict[bytes, int]) -> None:
    """Write BPE ranks in the tiktoken format, sorted by rank."""
    lines = [f"{base64.b64encode(token).decode()} {rank}\n" for token, rank in sorted(ranks.items(), key=lambda kv: kv[1])]
    path.write_text("".join(lines), encoding="ascii")


def k2_special_tokens(n_bpe: int) -> dict[str, int]:
    """K2's 256 special-token names and ids for a vocabulary with `n_bpe` BPE ranks."""
    names = {n_bpe + offset: f"<|reserved_token_{n_bpe + offset}|>" for offset in range(NUM_SPECIAL_SLOTS)}
    names |= {n_bpe + offset: name for offset, (name, _) in K2_SPECIAL_TOKENS.items()}
    return {name: i for i, name in names.items()}


def _split_like_k2(text: str) -> Iterator[str]:
    """Cut `text` where K2's tokenizer cuts it before BPE (see _MAX_ENCODE_CHARS)."""
    for start in range(0, len(text), _MAX_ENCODE_CHARS):
        chunk = text[start : start + _MAX_ENCODE_CHARS]
        if len(chunk) <= _MAX_RUN_CHARS:
            yield chunk
            continue
        # A cut falls every 25k characters into a run, counted from the run's start.
        cuts = [
            run.start() + k
            for run in _RUN.finditer(chunk)
            if run.end() - run.start() > _MAX_RUN_CHARS
            for k in range(_MAX_RUN_CHARS, run.end() - run.start(), _MAX_RUN_CHARS)
        ]
        for begin, end in zip([0, *cuts], [*cuts, len(chunk)]):
            yield chunk[begin:end]


class Tokenizer:
    """K2's tokenizer: byte-level BPE ranks (tiktoken) followed by 256 special-token ids.

    `encode` treats text as text: a special-token string inside user content becomes ordinary
    tokens, never the special token. Only `encode_with_specials`, meant for trusted template
    text, turns `<|im_end|>` and friends into their ids.
    """

    def __init__(
        self, ranks: dict[bytes, int], special_tokens: dict[str, int], skip_on_decode: set[int] | None = None
    ):
        self.n_bpe = len(ranks)
        if sorted(ranks.values()) != list(range(self.n_bpe)):
            raise ValueError("BPE ranks must be exactly 0..n-1")
        if sorted(special_tokens.values()) != list(range(self.n_bpe, self.n_bpe + len(special_tokens))):
            raise ValueError(f"special-token ids must follow the {self.n_bpe} BPE ranks without gaps")
        self.special_tokens = dict(special_tokens)
        self.special_names = {i: name for name, i in special_tokens.items()}
        # Ids dropped by decode(skip_special_tokens=True): HF's `special: true` tokens.
        self.skip_on_decode = set(special_tokens.values()) if skip_on_decode is None else set(skip_on_decode)
        self._encoding = tiktoken.Encoding(
            name="k2", pat_str=K2_PATTERN, mergeable_ranks=ranks, special_tokens=self.special_tokens
        )

    # ---- loading and saving the K2 checkpoint format ------------------------------------------

    @classmethod
    def from_dir(cls, path: str | Path) -> Tokenizer:
        """Load `tiktoken.model` + `tokenizer_config.json` from a checkpoint folder (K2's layout).

        Special-token names come from `added_tokens_decoder`; slots it leaves out are
        `<|reserved_token_{id}|>`. Without a tokenizer_config.json, K2's table is used.
        """
        path = Path(path)
        ranks = read_tiktoken_model(path / "tiktoken.model")
        n_bpe = len(ranks)
        config_path = path / "tokenizer_config.json"
        if not config_path.exists():
            return cls(ranks, k2_special_tokens(n_bpe), _k2_skip_on_decode(n_bpe))
        by_id = {n_bpe + offset: f"<|reserved_token_{n_bpe + offset}|>" for offset in range(NUM_SPECIAL_SLOTS)}
        skip_on_decode = set(by_id)
        declared = json.loads(config_path.read_text(encoding="utf-8")).get("added_tokens_decoder", {})
        for token_id, entry in declared.items():
            token_id = int(token_id)
            if token_id not in by_id:
                last = n_bpe + NUM_SPECIAL_SLOTS - 1
                raise ValueError(f"{config_path}: special token id {token_id} outside {n_bpe}..{last}")
            by_id[token_id] = entry["content"]
            if not entry.get("special", True):
                skip_on_decode.discard(token_id)
        special_tokens = {name: i for i, name in by_id.items()}
        if len(special_tokens) != len(by_id):
            raise ValueError(f"{config_path}: a special-token name is used twice")
        return cls(ranks, special_tokens, skip_on_decode)

    def save(self, out_dir: str | Path) -> None:
        """Write tiktoken.model, tokenizer_config.json and special_tokens_map.json like a K2 checkpoint."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        ranks = {self._encoding.decode_single_token_bytes(i): i for i in range(self.n_bpe)}
        write_tiktoken_model(out_dir / "tiktoken.model", ranks)
        config = json.dumps(self._tokenizer_config(), indent=2, ensure_ascii=False)
        (out_dir / "tokenizer_config.json").write_text(config + "\n")
        (out_dir / "special_tokens_map.json").write_text(json.dumps(self._special_tokens_map(), indent=2) + "\n")

    def _named_special_tokens(self) -> dict[int, str]:
        named = sorted(self.special_names.items())
        return {i: name for i, name in named if not name.startswith("<|reserved_token_")}

    def _tokenizer_config(self) -> dict:
        # K2's keys, minus `auto_map`/`tokenizer_class` (they name Moonshot's tokenization_kimi.py,
        # which we do not ship).
        entry = dict(lstrip=False, normalized=False, rstrip=False, single_word=False)
        return {
            "added_tokens_decoder": {
                str(i): {"content": name, **entry, "special": i in self.skip_on_decode}
                for i, name in self._named_special_tokens().items()
            },
            "additional_special_tokens": [n for n in K2_ADDITIONAL_SPECIAL_TOKENS if n in self.special_tokens],
            "bos_token": "[BOS]",
            "clean_up_tokenization_spaces": False,
            "eos_token": "[EOS]",
            "model_max_length": 1_000_000_000_000_000_019_884_624_838_656,  # HF's "no limit", as in K2
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
        }

    def _special_tokens_map(self) -> dict:
        config = self._tokenizer_config()
        keys = ("additional_special_tokens", "bos_token", "eos_token", "pad_token", "unk_token")
        return {key: config[key] for key in keys}

    # ---- ids ----------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self.n_bpe + len(self.special_tokens)

    def special_id(self, name: str) -> int:
        """The id of a special token by its text, e.g. `special_id("<|im_end|>")`."""
        if name not in self.special_tokens:
            raise ValueError(f"{name!r} is not a special token of this tokenizer")
        return self.special_tokens[name]

    @property
    def bos_id(self) -> int:
        return self.special_id("[BOS]")

    @property
    def eos_id(self) -> int:
        return self.special_id("[EOS]")

    @property
    def pad_id(self) -> int:
        return self.special_id("[PAD]")

    @property
    def stop_ids(self) -> list[int]:
        """Ids that end an assistant turn: `<|im_end|>` and `[EOS]`."""
        return [self.special_id("<|im_end|>"), self.eos_id]

    def is_special(self, token_id: int) -> bool:
        return token_id >= self.n_bpe

    # ---- encode / decode ----------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Text to ids; special-token strings in `text` are encoded as plain text."""
        return [t for piece in _split_like_k2(text) for t in self._encoding.encode_ordinary(piece)]

    def encode_batch(self, texts: list[str], num_threads: int = 8) -> list[list[int]]:
        """`encode` for many texts, in parallel threads."""
        pieces = [list(_split_like_k2(text)) for text in texts]
        flat = [piece for text in pieces for piece in text]
        encoded = iter(self._encoding.encode_ordinary_batch(flat, num_threads=num_threads))
        return [[t for _ in text for t in next(encoded)] for text in pieces]

    def encode_with_specials(self, text: str) -> list[int]:
        """Text to ids, turning special-token strings into their ids. For trusted template text only."""
        return [t for piece in _split_like_k2(text) for t in self._encoding.encode(piece, allowed_special="all")]

    def decode_bytes(self, ids: Iterable[int], skip_special_tokens: bool = False) -> bytes:
        ids = list(ids)
        unknown = [i for i in ids if not 0 <= i < self.vocab_size]
        if unknown:
            raise ValueError(f"token ids outside 0..{self.vocab_size - 1}: {unknown[:5]}")
        if skip_special_tokens:
            ids = [i for i in ids if i not in self.skip_on_decode]
        return self._encoding.decode_bytes(ids)

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Ids to text; bytes that are not valid UTF-8 become U+FFFD."""
        return self.decode_bytes(ids, skip_special_tokens).decode("utf-8", errors="replace")

    def stream_decoder(self, skip_special_tokens: bool = False) -> StreamDecoder:
        return StreamDecoder(self, skip_special_tokens)


class StreamDecoder:
    """Incremental detokeniser: feed ids one at a time, get text that never splits a character.

    Bytes of a multi-byte UTF-8 character that arrive across several tokens are held back until
    the character is complete. The concatenated output equals `Tokenizer.decode` of all ids.
    """

    def __init__(self, tokenizer: Tokenizer, skip_special_tokens: bool = False):
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def add(self, token_id: int) -> str:
        """Text completed by this token (may be empty while a character is incomplete)."""
        return self._utf8.decode(self.tokenizer.decode_bytes([token_id], self.skip_special_tokens))

    def add_many(self, ids: Iterable[int]) -> str:
        return self._utf8.decode(self.tokenizer.decode_bytes(ids, self.skip_special_tokens))

    def flush(self) -> str:
        """End of stream: bytes of an unfinished character come out as U+FFFD."""
        return self._utf8.decode(b"", final=True)


# ---- training our own small vocabularies ------------------------------------------------------


def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-to-printable-character map, which `tokenizers`' ByteLevel uses, inverted."""
    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)}
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[chr(byte)] = byte
        else:
            chars[chr(256 + extra)] = byte
            extra += 1
    return chars


def train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """Train a byte-level BPE with K2's regex on `texts`; `vocab_size` counts the 256 special slots."""
    return tokenizer_from_hf_bpe(train_hf_bpe(texts, vocab_size))


def train_hf_bpe(texts: Iterable[str], vocab_size: int):
    """Train with the `tokenizers` library (Rust, multi-threaded): K2's regex, then GPT-2 byte-level.

    Returns a `tokenizers.Tokenizer` with `vocab_size - 256` tokens; `tokenizer_from_hf_bpe`
    turns it into our format.
    """
    from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
    from tokenizers import Tokenizer as HFTokenizer

    n_bpe = vocab_size - NUM_SPECIAL_SLOTS
    if n_bpe < 256:
        minimum = 256 + NUM_SPECIAL_SLOTS
        raise ValueError(f"vocab_size must be at least {minimum} (256 bytes + {NUM_SPECIAL_SLOTS} special slots)")
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(K2_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    hf.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=n_bpe, initial_alphabet=alphabet, show_progress=False)
    hf.train_from_iterator(texts, trainer)
    if hf.get_vocab_size() != n_bpe:
        got = hf.get_vocab_size()
        raise ValueError(f"the corpus supports {got} BPE tokens, not the {n_bpe} asked for; give it more text")
    return hf


def tokenizer_from_hf_bpe(hf) -> Tokenizer:
    """Export a byte-level `tokenizers` BPE as tiktoken ranks + K2's special slots.

    Ranks are the 256 single bytes, then every merged token in merge order. tiktoken merges the
    adjacent pair whose concatenation has the lowest rank, so it follows the same merge order.
    (It could differ where one token is reachable by two different pair splits; on held-out
    text the tokens are identical, see tests/test_tokenizer.py and bench/tokenizer.py.)
    """
    alphabet = _byte_level_alphabet()
    ranks = {bytes([byte]): byte for byte in range(256)}
    for token, _ in sorted(hf.get_vocab().items(), key=lambda kv: kv[1]):
        ranks.setdefault(bytes(alphabet[c] for c in token), len(ranks))
    n_bpe = len(ranks)
    return Tokenizer(ranks, k2_special_tokens(n_bpe), _k2_skip_on_decode(n_bpe))


def _k2_skip_on_decode(n_bpe: int) -> set[int]:
    kept = {n_bpe + offset for offset, (_, special) in K2_SPECIAL_TOKENS.items() if not special}
    return set(range(n_bpe, n_bpe + NUM_SPECIAL_SLOTS)) - kept


def stdlib_corpus_files() -> list[Path]:
    """The standard library's own Python source (code and docstrings), tests excluded, sorted."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    skipped = {"site-packages", "dist-packages", "test", "tests", "idlelib", "__pycache__"}
    return sorted(p for p in stdlib.rglob("*.py") if not skipped & set(p.relative_to(stdlib).parts))


def default_corpus(part: int = 0, parts: int = 3) -> list[str]:
    """Every `parts`-th stdlib file from `part` on: about 4 MB. Part 0 trains; the others are held out."""
    files = stdlib_corpus_files()
    if len(files) < 100:
        # Some slimmed-down Pythons ship the standard library as bytecode or in a zip.
        raise ValueError(f"Python's standard-library source (.py files) was not found under {sysconfig.get_paths()['stdlib']}")
    return [p.read_text(encoding="utf-8", errors="replace") for p in files[part::parts]]


def write_default_tokenizer(out_dir: Path, vocab_size: int) -> None:
    """Train a tokenizer on the offline stdlib corpus (about a second) and save it into `out_dir`."""
    train_bpe(default_corpus(), vocab_size).save(out_dir)

