"""The training loop for pretraining and SFT, in one process or under torchrun (DDP / FSDP2), with resumable HF checkpoints.

Run it with `openk2 train pretrain ...` / `openk2 train sft ...`; on N processes with
`torchrun --nproc_per_node N -m openk2.train.cli pretrain ... --parallel fsdp` (the same command line as `openk2 train`).

A run directory holds:
  step-000500/        an HF checkpoint (config.json + safetensors, tokenizer files) + trainer_state.pt
  metrics.jsonl       one line per step: loss, lr, grad norm, max attention logit, tokens/s (+ eval loss)
  loss.png            the loss curves against tokens seen
Checkpoints are written to `.step-000500.tmp/` and renamed when complete, so a crash mid-write
never damages the last good one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.tensor import DTensor

from openk2.checkpoint import fsync_dir, fsync_tree, load_config, load_model, save_model
from openk2.config import ModelConfig
from openk2.model import CausalLM, Gate, MoE
from openk2.tokenizer import Tokenizer

from .data import IGNORE, Batch, ChatRows, PackedRows, load_chats, load_token_stream, micro_batch_rows, step_rows
from .muonclip import MuonClip

STATE_FILE = "trainer_state.pt"
STATE_FORMAT = 1
# A resumed run must replay the same batches and LR schedule: these settings may not change.
RESUME_MUST_MATCH = ("task", "seq_len", "global_batch_size", "steps", "optimizer", "schedule", "seed")


@dataclass
class TrainConfig:
    """The settings of a run; the CLI takes its defaults from here."""

    task: str = "pretrain"  # pretrain | sft
    seq_len: int = 512  # tokens per row (SFT: chats are cut to this)
    micro_batch_size: int = 8  # rows per forward pass, per process
    grad_accum: int = 1  # micro-batches per optimizer step
    steps: int = 1000  # optimizer steps: the length of the LR schedule
    optimizer: str = "muonclip"  # muonclip | adamw (AdamW on every parameter: the baseline)
    lr: float = 2e-3  # peak LR, shared by Muon and AdamW (Muon's update RMS is matched to AdamW's)
    schedule: str = "cosine"  # cosine | wsd (warmup, stable, then linear decay)
    warmup_fraction: float = 0.02  # of steps, linear from 0
    decay_fraction: float = 0.2  # WSD: the last fraction of steps decays to min_lr_ratio * lr
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    momentum: float = 0.95  # Muon momentum (AdamW's betas are (0.9, 0.95))
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    qk_clip_tau: float = 100.0  # K2's QK-Clip threshold; inf records max logits without clipping
    bias_update_speed: float = 1e-3  # aux-loss-free balancing: DeepSeek-V3's gamma per step
    balance_loss_alpha: float = 0.0  # sequence-wise balance loss weight (DeepSeek-V3 used 1e-4)
    precision: str = "bf16"  # bf16: autocast with float32 master weights | fp32
    parallel: str = "ddp"  # under torchrun: ddp | fsdp (FSDP2, parameters sharded per layer)
    device: str = "auto"  # auto: cuda when available, else cpu
    eval_every: int = 100  # steps between eval losses; 0 never
    eval_rows: int = 64  # rows in the eval set (held out of --data when no --eval-data)
    save_every: int = 500  # steps between checkpoints; the last step is always saved
    keep_checkpoints: int = 2  # older step-* directories are deleted
    seed: int = 0  # weights of a fresh model and the data order

    def validate(self, model_config: ModelConfig) -> None:
        choices = {"task": ("pretrain", "sft"), "optimizer": ("muonclip", "adamw"), "schedule": ("cosine", "wsd"),
                   "precision": ("bf16", "fp32"), "parallel": ("ddp", "fsdp")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("seq_len", "micro_batch_size", "grad_accum", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.seq_len > model_config.max_position_embeddings:
            raise ValueError(f"seq_len {self.seq_len} exceeds the model's context of {model_config.max_position_embeddings} tokens")
        if not (self.lr > 0 and 0 <= self.warmup_fraction < 1 and 0 <= self.decay_fraction <= 1 and 0 <= self.min_lr_ratio <= 1):
            raise ValueError("need lr > 0, 0 <= warmup_fraction < 1, 0 <= decay_fraction <= 1, 0 <= min_lr_ratio <= 1")
        if not self.qk_clip_tau > 0:
            raise ValueError(f"qk_clip_tau must be positive (inf turns clipping off), got {self.qk_clip_tau}")


# ---- pure pieces: schedule, initialisation, load balancing ------------------------------------


def lr_multiplier(step: int, steps: int, warmup_fraction: float, schedule: str, decay_fraction: float, min_ratio: float) -> float:
    """The LR of step `step` (0-based) relative to the peak: linear warmup, then cosine or WSD down to min_ratio."""
    warmup = round(warmup_fraction * steps)
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "cosine":
        progress = (step - warmup) / max(1, steps - warmup)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    decay_steps = round(decay_fraction * steps)
    into_decay = step - (steps - decay_steps)
    if decay_steps == 0 or into_decay < 0:
        return 1.0
    return 1 - (1 - min_ratio) * (into_decay + 1) / decay_steps


@torch.no_grad()
def init_weights_(model: CausalLM, seed: int) -> None:
    """A fresh model: every matrix N(0, initializer_range), norms 1, router bias 0 (as transformers initialises)."""
    generator = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        if param.ndim >= 2:
            param.copy_(torch.empty(param.shape).normal_(0.0, model.config.initializer_range, generator=generator))
        elif name.endswith(".bias"):
            param.zero_()
        else:
            param.fill_(1.0)  # RMSNorm weights


@torch.no_grad()
def update_correction_bias_(bias: torch.Tensor, expert_load: torch.Tensor, speed: float) -> None:
    """DeepSeek-V3's auxiliary-loss-free balancing: raise the bias of under-loaded experts by `speed`, lower the over-loaded.

    The bias only steers which experts are chosen, never their weights, so balancing costs no
    gradient signal (DeepSeek-V3 section 2.1.2; K2 keeps it).
    """
    bias.add_(speed * torch.sign(expert_load.float().mean() - expert_load.float()))


def sequence_balance_loss(scores: torch.Tensor, expert_ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """DeepSeek-V3's sequence-wise balance loss per sequence: sum_i f_i * P_i -> [B].

    scores [B, T, E] sigmoid router scores, expert_ids [B, T, K], valid [B, T]. f_i is expert i's
    share of the sequence's routed slots times E/K (1 when perfectly balanced); P_i the mean of
    its normalised scores. Padding positions count for neither.
    """
    E, K = scores.shape[-1], expert_ids.shape[-1]
    mask = valid.unsqueeze(-1).float()  # [B, T, 1]
    tokens = mask.sum(1).clamp(min=1)  # [B, 1]
    hits = torch.zeros_like(scores).scatter_(-1, expert_ids, 1.0) * mask  # [B, T, E]
    f = hits.sum(1) * E / (K * tokens)  # [B, E]
    p = (scores / scores.sum(-1, keepdim=True) * mask).sum(1) / tokens  # [B, E]
    return (f * p).sum(-1)


def give_every_expert_a_gradient(model: nn.Module) -> None:
    """Make experts that no token visited still take part in backward, with a zero gradient.

    Under DDP and FSDP2 every rank must reduce the same set of gradients; an expert idle on one
    rank but busy on another would otherwise hang FSDP2's reduce-scatter. Running idle experts
    on zero tokens costs nothing and gives them a zero gradient; doing it in one process too keeps
    the optimizer (momentum, weight decay) identical however the batch is split.
    """

    def touch_idle_experts(moe: MoE, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        if not moe.training or not torch.is_grad_enabled():
            return output
        x = inputs[0].reshape(-1, inputs[0].shape[-1])[:0]  # [0, D]
        hit = torch.bincount(moe.gate.last_expert_ids.flatten(), minlength=len(moe.experts))
        idle = [expert(x).sum() for expert, count in zip(moe.experts, hit.tolist()) if count == 0]
        return output + sum(idle) if idle else output

    for module in model.modules():
        if isinstance(module, MoE):
            module.register_forward_hook(touch_idle_experts)


# ---- distributed setup ----------------------------------------------------------------------


def init_distributed(device: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device) from torchrun's environment; one process when it is absent."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, torch.device(device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), torch.device(device, local_rank) if device == "cuda" else torch.device(device)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        dist.all_reduce(tensor)
    return tensor


# ---- the trainer ----------------------------------------------------------------------------


class Trainer:
    """One training run: model, data, optimizer and run directory; `run()` trains to the end (or `stop_after`)."""

    def __init__(
        self,
        config: TrainConfig,
        model: ModelConfig | str | Path,
        data: list[str | Path],
        out: str | Path,
        eval_data: list[str | Path] | None = None,
        tokenizer: str | Path | None = None,
        resume: bool = False,
        show_progress: bool = True,
    ):
        """`model` is a ModelConfig (fresh weights from config.seed) or an HF checkpoint directory to start from."""
        self.config, self.out, self.show_progress = config, Path(out), show_progress
        self.rank, self.world, self.device = init_distributed(config.device)
        model_dir = None if isinstance(model, ModelConfig) else Path(model)
        model_config = load_config(model_dir) if model_dir else model
        config.validate(model_config)
        self.global_batch_size = config.micro_batch_size * config.grad_accum * self.world

        resume_dir = self.find_resume_checkpoint() if resume else None
        if not resume and any(self.out.glob("step-*")):
            raise ValueError(f"{self.out} already holds checkpoints: pass --resume to continue that run or choose another --out")
        self.tokenizer = self.load_tokenizer(tokenizer, model_dir)
        self.train_rows, self.eval_rows = self.load_data(data, eval_data, model_config.vocab_size)
        step_rows(len(self.train_rows), self.global_batch_size, 0, config.seed)  # fail now if one step's batch does not fit

        # Every rank builds the same full model (same seed or same checkpoint), then shards or replicates it.
        self.step, self.tokens_seen = 0, 0
        state: dict[str, Any] | None = None
        if resume_dir is not None:
            state = self.check_resumable(resume_dir, model_config)
            self.module = load_model(resume_dir, device=self.device)
            self.step, self.tokens_seen = state["step"], state["tokens_seen"]
        elif model_dir is not None:
            self.module = load_model(model_dir, device=self.device)
        else:
            with torch.device(self.device):
                self.module = CausalLM(model_config)
            init_weights_(self.module, config.seed)
        self.module.train()
        give_every_expert_a_gradient(self.module)
        self.model = self.wrap(self.module)
        self.gates = [m for m in self.module.modules() if isinstance(m, Gate)]

        self.optimizer = MuonClip(
            self.module, lr=config.lr, weight_decay=config.weight_decay, momentum=config.momentum,
            qk_clip_tau=None if math.isinf(config.qk_clip_tau) else config.qk_clip_tau, muon=config.optimizer == "muonclip",
        )
        if state is not None:
            try:
                set_optimizer_state_dict(self.model, self.optimizer.optimizers, optim_state_dict=state["optimizer"],
                                         options=StateDictOptions(full_state_dict=True))
            except (KeyError, ValueError, RuntimeError) as e:
                raise ValueError(f"cannot resume from {resume_dir}: its optimizer state does not fit this model ({str(e).splitlines()[0]})") from None
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            for stale in self.out.glob(".step-*.tmp"):
                shutil.rmtree(stale)  # a checkpoint a crash left half-written
            self.trim_metrics()

    # ---- setup helpers --------------------------------------------------------------------

    def find_resume_checkpoint(self) -> Path:
        done = sorted(p for p in self.out.glob("step-*") if (p / STATE_FILE).is_file())
        if not done:
            raise ValueError(f"--resume: {self.out} holds no complete checkpoint (step-*/{STATE_FILE}) to resume from")
        return done[-1]

    def check_resumable(self, checkpoint: Path, model_config: ModelConfig) -> dict[str, Any]:
        state = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=True)
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"cannot resume from {checkpoint}: {STATE_FILE} has format {state.get('format')}, expected {STATE_FORMAT}")
        if load_config(checkpoint).to_hf() != model_config.to_hf():
            raise ValueError(f"cannot resume from {checkpoint}: it holds a different model than --config describes")
        mine = {**dataclasses.asdict(self.config), "global_batch_size": self.global_batch_size}
        for key in RESUME_MUST_MATCH:
            if state["run"][key] != mine[key]:
                raise ValueError(f"cannot resume from {checkpoint}: it was trained with {key}={state['run'][key]}, this run asks for {mine[key]}")
        return state

    @staticmethod
    def load_tokenizer(tokenizer: str | Path | None, model_dir: Path | None) -> Tokenizer | None:
        if tokenizer is not None:
            if not (Path(tokenizer) / "tiktoken.model").is_file():
                raise FileNotFoundError(f"no tokenizer at {tokenizer} (expected {Path(tokenizer) / 'tiktoken.model'})")
            return Tokenizer.from_dir(tokenizer)
        if model_dir is not None and (model_dir / "tiktoken.model").is_file():
            return Tokenizer.from_dir(model_dir)
        return None

    def load_data(self, data: list, eval_data: list | None, vocab_size: int) -> tuple[PackedRows | ChatRows, PackedRows | ChatRows | None]:
        """Training rows and eval rows (from --eval-data, or held out from the end of --data)."""
        c = self.config
        if c.task == "pretrain":
            def load(paths):
                return PackedRows(load_token_stream(paths, self.tokenizer, vocab_size), c.seq_len)
        else:
            if self.tokenizer is None:
                raise ValueError("SFT renders chats with K2's template and needs a tokenizer: pass --tokenizer DIR")

            def load(paths):
                return load_chats(paths, self.tokenizer, c.seq_len, vocab_size)
        rows = load(data)
        if eval_data:
            return rows, load(eval_data)
        held_out = min(c.eval_rows, len(rows) // 10) if c.eval_every else 0
        if held_out == 0:
            return rows, None
        keep = len(rows) - held_out
        if isinstance(rows, PackedRows):  # split the token stream so no eval token is trained on
            tokens = rows.tokens
            return PackedRows(tokens[: keep * c.seq_len + 1], c.seq_len), PackedRows(tokens[keep * c.seq_len:], c.seq_len)
        return rows.subset(0, keep), rows.subset(keep)

    def wrap(self, module: CausalLM) -> nn.Module:
        if self.world == 1:
            return module
        if self.config.parallel == "ddp":
            from torch.nn.parallel import DistributedDataParallel

            return DistributedDataParallel(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(self.device.type, (self.world,))
        for layer in module.model.layers:  # one all-gather per layer in forward, resharded after
            fully_shard(layer, mesh=mesh)
        return fully_shard(module, mesh=mesh)

    def gradient_sync(self, enabled: bool) -> contextlib.AbstractContextManager:
        """Reduce gradients across ranks only on the last micro-batch of a step."""
        if self.world > 1 and self.config.parallel == "fsdp":
            self.model.set_requires_gradient_sync(enabled)
        elif self.world > 1 and not enabled:
            return self.model.no_sync()
        return contextlib.nullcontext()

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16")

    # ---- one step -------------------------------------------------------------------------

    def train_step(self) -> dict[str, float]:
        c = self.config
        lr = c.lr * lr_multiplier(self.step, c.steps, c.warmup_fraction, c.schedule, c.decay_fraction, c.min_lr_ratio)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        rows = step_rows(len(self.train_rows), self.global_batch_size, self.step, c.seed)
        batches = [self.train_rows.batch(micro_batch_rows(rows, c.micro_batch_size, i, self.rank, self.world)) for i in range(c.grad_accum)]
        # Normalise by the step's target count over all ranks, so the gradient is the same however
        # the global batch is split into micro-batches and processes (SFT rows have unequal counts).
        counts = torch.tensor([sum(float((b.targets != IGNORE).sum()) for b in batches), sum(float(b.valid.sum()) for b in batches)],
                              dtype=torch.float64, device=self.device)
        n_targets, n_tokens = all_reduce_sum(counts).tolist()
        expert_load = [torch.zeros(len(gate.e_score_correction_bias), device=self.device) for gate in self.gates]
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.optimizer.qk_clip.reset()
        for i, batch in enumerate(batches):
            batch = Batch(*(t.to(self.device) for t in batch))
            with self.gradient_sync(i == len(batches) - 1):
                with self.autocast():
                    logits = self.model(batch.inputs)
                ce = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE, reduction="sum")
                loss = ce * (self.world / max(n_targets, 1))
                if c.balance_loss_alpha:
                    loss = loss + c.balance_loss_alpha * self.world / self.global_batch_size * self.balance_loss(batch)
                for load, gate in zip(expert_load, self.gates):
                    ids = gate.last_expert_ids[batch.valid.flatten()]
                    load += torch.bincount(ids.flatten(), minlength=len(load))
                    gate.last_scores = None  # drop the graph reference before the next forward
                loss.backward()
            loss_sum += ce.detach().double()

        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip if c.grad_clip > 0 else math.inf)
        if isinstance(grad_norm, DTensor):
            grad_norm = grad_norm.full_tensor()
        max_logit = self.optimizer.step()  # Muon + AdamW, then QK-Clip
        self.optimizer.zero_grad()
        for load, gate in zip(expert_load, self.gates):
            update_correction_bias_(gate.e_score_correction_bias, all_reduce_sum(load), c.bias_update_speed)
        self.step += 1
        self.tokens_seen += int(n_tokens)
        return {"loss": all_reduce_sum(loss_sum).item() / max(n_targets, 1), "lr": lr, "grad_norm": grad_norm.item(), "max_logit": max_logit}

    def balance_loss(self, batch: Batch) -> torch.Tensor:
        """The summed sequence-wise balance losses of this micro-batch over all MoE layers."""
        B, T = batch.inputs.shape
        total = torch.zeros((), device=self.device)
        for gate in self.gates:
            scores = gate.last_scores.view(B, T, -1)
            ids = gate.last_expert_ids.view(B, T, -1)
            total = total + sequence_balance_loss(scores, ids, batch.valid).sum()
        return total

    @torch.no_grad()
    def evaluate(self) -> float | None:
        """Mean loss per target token on the eval rows; every rank runs the same number of forwards (FSDP2 needs it)."""
        if self.eval_rows is None:
            return None
        rows = np.arange(min(self.config.eval_rows, len(self.eval_rows)))
        mine = rows[self.rank:: self.world][: len(rows) // self.world]  # equal shares; a remainder < world rows is skipped
        if len(mine) == 0:
            return None
        self.model.eval()
        totals = torch.zeros(2, dtype=torch.float64, device=self.device)
        for start in range(0, len(mine), self.config.micro_batch_size):
            batch = Batch(*(t.to(self.device) for t in self.eval_rows.batch(mine[start: start + self.config.micro_batch_size])))
            with self.autocast():
                logits = self.model(batch.inputs)
            ce = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE, reduction="sum")
            totals[0] += ce.double()
            totals[1] += (batch.targets != IGNORE).sum()
        self.model.train()
        loss_sum, count = all_reduce_sum(totals).tolist()
        return loss_sum / max(count, 1)

    # ---- the loop -------------------------------------------------------------------------

    def run(self, stop_after: int | None = None) -> Path:
        """Train until config.steps (or until step `stop_after`, as if interrupted); returns the last checkpoint."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        c = self.config
        last = min(c.steps, stop_after) if stop_after is not None else c.steps
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[status]}"), TimeRemainingColumn())
        checkpoint = self.out / f"step-{self.step:06d}"
        with Progress(*columns, disable=not (self.show_progress and self.rank == 0), transient=False) as progress:
            bar = progress.add_task(c.task, total=c.steps, completed=self.step, status="")
            while self.step < last:
                started = time.perf_counter()
                tokens_before = self.tokens_seen
                metrics = self.train_step()
                elapsed = time.perf_counter() - started
                record = {"step": self.step, **metrics, "tokens": self.tokens_seen, "tokens_per_s": (self.tokens_seen - tokens_before) / elapsed}
                if c.eval_every and (self.step % c.eval_every == 0 or self.step == c.steps):
                    eval_loss = self.evaluate()
                    if eval_loss is not None:
                        record["eval_loss"] = eval_loss
                self.log(record)
                progress.update(bar, completed=self.step, status=f"loss {record['loss']:.3f} · {record['tokens_per_s']:,.0f} tok/s"
                                + (f" · eval {record['eval_loss']:.3f}" if "eval_loss" in record else ""))
                if self.step % c.save_every == 0 or self.step == last:
                    checkpoint = self.save()
        if self.rank == 0:
            plot_metrics(self.out / "metrics.jsonl", self.out / "loss.png")
        return checkpoint

    def log(self, record: dict[str, float]) -> None:
        if self.rank == 0:
            with (self.out / "metrics.jsonl").open("a") as f:
                f.write(json.dumps(record) + "\n")

    def trim_metrics(self) -> None:
        """On resume, forget the steps logged after the checkpoint: they are about to be trained again."""
        path = self.out / "metrics.jsonl"
        if path.is_file():
            lines = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= self.step]
            path.write_text("".join(line + "\n" for line in lines))

    # ---- checkpoints ----------------------------------------------------------------------

    def save(self) -> Path:
        """Write step-NNNNNN/: the HF checkpoint (loadable by load_model and transformers) + optimizer state for --resume."""
        sharded = self.world > 1 and self.config.parallel == "fsdp"
        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        # Every rank takes part in gathering FSDP2 shards; rank 0 alone writes.
        weights = get_model_state_dict(self.model, options=options) if sharded else self.module.state_dict()
        optimizer_state = get_optimizer_state_dict(self.model, self.optimizer.optimizers, options=options)
        final = self.out / f"step-{self.step:06d}"
        if self.rank == 0:
            tmp = self.out / f".step-{self.step:06d}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            with torch.device("meta"):
                shell = CausalLM(self.module.config)  # a plain module around the gathered full tensors
            shell.load_state_dict({k: v.detach().cpu() for k, v in weights.items()}, assign=True)
            save_model(shell, tmp)
            if self.tokenizer is not None:
                self.tokenizer.save(tmp)
            run = {**dataclasses.asdict(self.config), "global_batch_size": self.global_batch_size, "world_size": self.world}
            torch.save({"format": STATE_FORMAT, "step": self.step, "tokens_seen": self.tokens_seen, "run": run,
                        "optimizer": optimizer_state}, tmp / STATE_FILE)
            fsync_tree(tmp)  # every file's data on disk before the rename publishes the checkpoint
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)  # atomic: the checkpoint appears complete or not at all
            fsync_dir(self.out)  # ... and the rename itself survives a crash
            for old in sorted(self.out.glob("step-*"))[: -self.config.keep_checkpoints]:
                shutil.rmtree(old)
        if dist.is_initialized():
            dist.barrier()
        return final


def plot_metrics(metrics: Path, png: Path) -> None:
    """Train and eval loss against tokens seen, from metrics.jsonl."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["tokens"] for r in records], [r["loss"] for r in records], label="train", linewidth=1)
    evals = [r for r in records if "eval_loss" in r]
    if evals:
        ax.plot([r["tokens"] for r in evals], [r["eval_loss"] for r in evals], "o-", label="eval")
    ax.set(xlabel="tokens", ylabel="loss (nats/token)", title=metrics.parent.name)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
