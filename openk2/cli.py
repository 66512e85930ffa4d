"""The `openk2` command line: `openk2 --help` lists the commands."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .cli_support import console, err_console, parse_dtype, resolve_config, user_errors

app = typer.Typer(help="openk2: the Kimi K2 system, open and hackable.", no_args_is_help=True, add_completion=False)


def human(n: float, unit: str = "") -> str:
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{n:.0f}{unit}"


def human_bytes(n: float) -> str:
    for suffix, scale in (("PiB", 1024**5), ("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}"
    return f"{n:.0f} B"


@app.command()
@user_errors
def info(target: Annotated[str, typer.Argument(help="checkpoint directory, config.json, or preset name")]) -> None:
    """Print a model's shape, total and active parameter counts and KV-cache size (no weights are loaded)."""
    from .model import count_parameters

    config, ckpt = resolve_config(target)
    total, active = count_parameters(config)
    table = Table(title=f"openk2 · {target}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str]] = [
        ("model_type", config.model_type),
        ("layers", f"{config.num_hidden_layers} ({min(config.first_k_dense_replace, config.num_hidden_layers)} dense)"),
        ("hidden_size", str(config.hidden_size)),
        ("attention", f"MLA, {config.num_attention_heads} heads, q_lora_rank {config.q_lora_rank}, kv_lora_rank "
                      f"{config.kv_lora_rank}, qk {config.qk_nope_head_dim}+{config.qk_rope_head_dim} rope, v {config.v_head_dim}"),
    ]
    if config.n_routed_experts:
        groups = f", best {config.topk_group} of {config.n_group} groups" if config.n_group > 1 else ""
        rows.append(("experts", f"{config.n_routed_experts} routed (top-{config.num_experts_per_tok}{groups}) + "
                                f"{config.n_shared_experts or 0} shared, width {config.moe_intermediate_size}"))
    rope = f"theta {config.rope_theta:g}"
    if config.rope_scaling:
        rope += f", YaRN x{config.rope_scaling['factor']:g} from {config.rope_scaling['original_max_position_embeddings']}"
    rows += [
        ("context", f"{config.max_position_embeddings} tokens ({rope})"),
        ("vocab_size", str(config.vocab_size)),
        ("parameters", f"{human(total)} total, {human(active)} active per token"),
        ("KV cache (bf16)", f"{human_bytes(config.kv_cache_bytes_per_token())} per token, "
                            f"{human_bytes(config.kv_cache_bytes_per_token() * 128 * 1024)} at 128K tokens"),
    ]
    if ckpt is not None:
        from .checkpoint import check_checkpoint, safetensors_files

        _, dtypes = check_checkpoint(ckpt)  # headers only: names and shapes, no weights read
        size = sum(f.stat().st_size for f in safetensors_files(ckpt))
        histogram = ", ".join(f"{n} {dt}" for dt, n in sorted(dtypes.items()))
        rows.append(("checkpoint", f"{ckpt}: {human_bytes(size)} of safetensors, all tensors present ({histogram})"))
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


@app.command()
@user_errors
def init(
    out: Annotated[Path, typer.Argument(help="directory to write the checkpoint into")],
    preset: Annotated[str | None, typer.Option(help="preset name: kimi-k2, moonlight-16b-a3b, nano")] = None,
    config: Annotated[Path | None, typer.Option(help="a config.json to use instead of a preset")] = None,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same weights)")] = 0,
    dtype: Annotated[str, typer.Option(help="float32, bfloat16 or float16")] = "bfloat16",
    force: Annotated[bool, typer.Option(help="overwrite an existing checkpoint in OUT")] = False,
    tokenizer: Annotated[bool, typer.Option(help="also train and write a tokenizer (stdlib corpus, ~1 s)")] = True,
    max_model_len: Annotated[int | None, typer.Option(help="context length; past the preset's, YaRN stretches it "
                                                           "[default: the preset's]")] = None,
) -> None:
    """Write a random-weight checkpoint in the Hugging Face layout (until trained weights ship)."""
    import torch

    from .checkpoint import random_weights, write_checkpoint
    from .config import ModelConfig
    from .config import preset as make_preset
    from .model import count_parameters

    if (preset is None) == (config is None):
        raise ValueError("give exactly one of --preset NAME or --config FILE")
    model_config = make_preset(preset) if preset else ModelConfig.from_json_file(config)
    if max_model_len is not None:
        model_config = model_config.with_max_len(max_model_len)
    torch_dtype = parse_dtype(dtype)
    if (out / "config.json").exists() and not force:
        raise ValueError(f"{out} already holds a checkpoint; pass --force to overwrite it")
    nbytes = count_parameters(model_config)[0] * torch.tensor([], dtype=torch_dtype).element_size()
    existing = next(p for p in [out.absolute(), *out.absolute().parents] if p.exists())
    free = shutil.disk_usage(existing).free
    if nbytes > free:
        raise ValueError(f"a {preset or config} checkpoint in {dtype} needs {human_bytes(nbytes)} but {existing} has {human_bytes(free)} free")
    out.mkdir(parents=True, exist_ok=True)

    def with_progress(progress: Progress, task) -> Iterator[tuple[str, torch.Tensor]]:
        for name, tensor in random_weights(model_config, torch_dtype, seed):
            progress.advance(task, tensor.numel() * tensor.element_size())
            yield name, tensor

    columns = (TextColumn("[bold]init[/] {task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(str(out), total=nbytes)
        write_checkpoint(out, model_config, with_progress(progress, task), torch_dtype)
    console.print(f"wrote a random-weight {preset or config} checkpoint ({human_bytes(nbytes)}, {dtype}) to {out}")
    if tokenizer:
        write_tokenizer_for(model_config, out)


# A tokenizer trained offline needs >= 256 merges beyond the bytes, and a few MB of stdlib source
# cannot support K2-sized vocabularies: those checkpoints should get K2's own tokenizer files.
TRAINABLE_VOCAB = (768, 65_536)


def write_tokenizer_for(model_config, out: Path) -> None:
    from .tokenizer import NUM_SPECIAL_SLOTS, write_default_tokenizer

    low, high = TRAINABLE_VOCAB
    if not low <= model_config.vocab_size <= high:
        console.print(f"no tokenizer written: a vocab of {model_config.vocab_size} is outside what openk2 trains offline "
                      f"({low}-{high}); copy K2's tiktoken.model and tokenizer_config.json into {out} to chat with it")
        return
    write_default_tokenizer(out, model_config.vocab_size)
    console.print(f"wrote a {model_config.vocab_size - NUM_SPECIAL_SLOTS}-token BPE tokenizer (+ K2's "
                  f"{NUM_SPECIAL_SLOTS} special tokens), trained on Python's standard library, to {out}")


def sampling_options(max_tokens: int, temperature: float, top_p: float, seed: int | None):
    from .engine import SamplingParams

    return SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)


def guided_grammar(json_schema: Path | None, grammar: Path | None) -> str | None:
    """The grammar for --json-schema or --grammar; ValueError naming the file and the problem."""
    from .engine.grammar import grammar_for

    if json_schema is not None and grammar is not None:
        raise ValueError("give --json-schema or --grammar, not both")
    if json_schema is not None:
        try:
            schema = json.loads(json_schema.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{json_schema} is not JSON: {e}") from None
        try:
            return grammar_for(json_schema=schema)
        except ValueError as e:
            raise ValueError(f"{json_schema} cannot guide decoding: {e}") from None
    if grammar is not None:
        try:
            return grammar_for(grammar=grammar.read_text())
        except ValueError as e:
            raise ValueError(f"{grammar}: {e}") from None
    return None


ModelOption = Annotated[Path, typer.Option("--model", "-m", help="checkpoint directory (weights + tokenizer)")]
MaxTokensOption = Annotated[int, typer.Option(help="most tokens to generate per reply")]
TemperatureOption = Annotated[float, typer.Option(help="0 is greedy; 0.6 is K2's recommendation")]
TopPOption = Annotated[float, typer.Option(help="nucleus sampling mass")]
SeedOption = Annotated[int | None, typer.Option(help="seed for reproducible sampling")]
SystemOption = Annotated[str | None, typer.Option(help="system prompt (default: K2's)")]
DtypeOption = Annotated[str, typer.Option(help="weights dtype: bfloat16, float32 or float16")]
CacheOption = Annotated[int, typer.Option(help="KV cache memory budget in MiB")]
QuantizeOption = Annotated[str | None, typer.Option(help="int8 / int4: weight-only quantised weights (faster CPU decode)")]


@app.command()
@user_errors
def generate(
    prompt: Annotated[str, typer.Argument(help="the user message (or raw text with --raw)")],
    model: ModelOption,
    max_tokens: MaxTokensOption = 256,
    temperature: TemperatureOption = 0.6,
    top_p: TopPOption = 1.0,
    seed: SeedOption = None,
    system: SystemOption = None,
    raw: Annotated[bool, typer.Option(help="continue the text as is, without the chat template")] = False,
    dtype: DtypeOption = "bfloat16",
    cache_mib: CacheOption = 1024,
    quantize: QuantizeOption = None,
    json_schema: Annotated[Path | None, typer.Option(
        help="a JSON Schema file: the reply is JSON that matches it (guided decoding)")] = None,
    grammar: Annotated[Path | None, typer.Option(
        help="a grammar file the reply must match (llguidance Lark: %json {...}, <|special|> tokens)")] = None,
) -> None:
    """Generate one reply, streamed to the terminal."""
    from .terminal import generate_once, load_engine

    params = sampling_options(max_tokens, temperature, top_p, seed)
    params.grammar = guided_grammar(json_schema, grammar)  # checked before the slow model load
    engine = load_engine(model, parse_dtype(dtype), cache_mib * 1024**2, quantize)
    generate_once(engine, prompt, params, system, raw)


@app.command()
@user_errors
def chat(
    model: ModelOption,
    max_tokens: MaxTokensOption = 1024,
    temperature: TemperatureOption = 0.6,
    top_p: TopPOption = 1.0,
    seed: SeedOption = None,
    system: SystemOption = None,
    dtype: DtypeOption = "bfloat16",
    cache_mib: CacheOption = 1024,
    quantize: QuantizeOption = None,
) -> None:
    """Interactive chat with streaming output, in K2's chat template."""
    from .terminal import chat_loop, load_engine

    params = sampling_options(max_tokens, temperature, top_p, seed)
    params.validate(vocab_size=1 << 31)  # fail on bad options before the slow model load
    engine = load_engine(model, parse_dtype(dtype), cache_mib * 1024**2, quantize)
    chat_loop(engine, params, system)


# The other packages' commands, mounted last (their modules import only cli_support, not this module).
from .agent.cli import agent as agent_command, mcp_app  # noqa: E402
from .evals.cli import eval_app  # noqa: E402
from .server.cli import keys_app, serve, usage  # noqa: E402
from .synth.cli import synth as synth_command  # noqa: E402
from .train.cli import train_app  # noqa: E402

app.command()(serve)
app.command()(usage)
app.add_typer(keys_app, name="keys")
app.command(name="agent")(agent_command)
app.add_typer(mcp_app, name="mcp")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
app.command(name="synth")(synth_command)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app()

