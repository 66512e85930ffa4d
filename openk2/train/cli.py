"""`openk2 train pretrain|sft`: MuonClip training from the command line (standalone: `python -m openk2.train.cli --help`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from openk2.cli_support import console, resolve_config, user_errors

from .trainer import TrainConfig

train_app = typer.Typer(help="Train K2-architecture models with MuonClip: pretraining and SFT, in one process or under torchrun.",
                        no_args_is_help=True, add_completion=False)
DEFAULT = TrainConfig()

TASK_HELP = {
    "pretrain": """Pretrain on text (.txt/.md/.py, JSONL {"text"}) or pre-tokenised data (.bin uint32, JSONL {"tokens"}).

    Packs the token stream into rows of --seq-len tokens. Multi-process: torchrun --nproc_per_node N -m openk2.train.cli pretrain ...""",
    "sft": """Supervised fine-tuning on chats (JSONL {"messages": [...], "tools": [...]}) in K2's chat template.

    The loss covers only what the assistant writes (content, tool calls, <|im_end|>). Start from a checkpoint: --config DIR.""",
}


def make_command(task: str):
    @user_errors
    def command(
        config: Annotated[str, typer.Option(help="model: a checkpoint directory to start from, a config.json, or a preset name")],
        data: Annotated[list[Path], typer.Option(help="data file or directory (repeat for several)")],
        out: Annotated[Path, typer.Option(help="run directory: checkpoints, metrics.jsonl, loss.png")],
        eval_data: Annotated[list[Path] | None, typer.Option(help="held-out data (default: the end of --data)")] = None,
        tokenizer: Annotated[Path | None, typer.Option(help="tokenizer directory (default: the --config checkpoint's)")] = None,
        resume: Annotated[bool, typer.Option(help="continue from the latest checkpoint in --out")] = False,
        seq_len: Annotated[int, typer.Option(help="tokens per row")] = DEFAULT.seq_len,
        micro_batch_size: Annotated[int, typer.Option(help="rows per forward pass, per process")] = DEFAULT.micro_batch_size,
        grad_accum: Annotated[int, typer.Option(help="micro-batches per optimizer step")] = DEFAULT.grad_accum,
        steps: Annotated[int, typer.Option(help="optimizer steps")] = DEFAULT.steps,
        optimizer: Annotated[str, typer.Option(help="muonclip, or adamw (AdamW everywhere, the baseline)")] = DEFAULT.optimizer,
        lr: Annotated[float, typer.Option(help="peak learning rate (Muon and AdamW share it)")] = DEFAULT.lr,
        schedule: Annotated[str, typer.Option(help="cosine or wsd (warmup-stable-decay)")] = DEFAULT.schedule,
        warmup_fraction: Annotated[float, typer.Option(help="fraction of steps with linear warmup")] = DEFAULT.warmup_fraction,
        decay_fraction: Annotated[float, typer.Option(help="wsd: fraction of steps in the final decay")] = DEFAULT.decay_fraction,
        min_lr_ratio: Annotated[float, typer.Option(help="final LR as a fraction of --lr")] = DEFAULT.min_lr_ratio,
        weight_decay: Annotated[float, typer.Option(help="decoupled weight decay")] = DEFAULT.weight_decay,
        momentum: Annotated[float, typer.Option(help="Muon momentum (Nesterov)")] = DEFAULT.momentum,
        grad_clip: Annotated[float, typer.Option(help="max global gradient norm (0: off)")] = DEFAULT.grad_clip,
        qk_clip_tau: Annotated[float, typer.Option(help="QK-Clip threshold on attention logits (inf: off)")] = DEFAULT.qk_clip_tau,
        bias_update_speed: Annotated[float, typer.Option(help="router bias step for aux-loss-free balancing")] = DEFAULT.bias_update_speed,
        balance_loss_alpha: Annotated[float, typer.Option(help="sequence-wise balance loss weight (0: off)")] = DEFAULT.balance_loss_alpha,
        precision: Annotated[str, typer.Option(help="bf16 (autocast, fp32 weights) or fp32")] = DEFAULT.precision,
        parallel: Annotated[str, typer.Option(help="under torchrun: ddp or fsdp")] = DEFAULT.parallel,
        device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = DEFAULT.device,
        eval_every: Annotated[int, typer.Option(help="steps between eval losses (0: never)")] = DEFAULT.eval_every,
        eval_rows: Annotated[int, typer.Option(help="rows in the eval set")] = DEFAULT.eval_rows,
        save_every: Annotated[int, typer.Option(help="steps between checkpoints")] = DEFAULT.save_every,
        keep_checkpoints: Annotated[int, typer.Option(help="checkpoints to keep")] = DEFAULT.keep_checkpoints,
        seed: Annotated[int, typer.Option(help="seed of fresh weights and of the data order")] = DEFAULT.seed,
        progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    ) -> None:
        from .trainer import Trainer

        settings = {k: v for k, v in locals().items() if k in TrainConfig.__dataclass_fields__ and k != "task"}
        train_config = TrainConfig(task=task, **settings)
        model_config, checkpoint = resolve_config(config)
        trainer = Trainer(train_config, checkpoint or model_config, data, out, eval_data=eval_data, tokenizer=tokenizer,
                          resume=resume, show_progress=progress)
        final = trainer.run()
        if trainer.rank == 0:
            last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
            eval_note = f", eval loss {last['eval_loss']:.4f}" if "eval_loss" in last else ""
            console.print(f"{task}: {last['step']} steps, loss {last['loss']:.4f}{eval_note}; checkpoint {final}", soft_wrap=True)
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()  # tear down together: gloo can abort a rank whose peer is still talking to it
            dist.destroy_process_group()

    command.__doc__ = TASK_HELP[task]
    command.__name__ = task
    return command


train_app.command("pretrain")(make_command("pretrain"))
train_app.command("sft")(make_command("sft"))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train_app()
