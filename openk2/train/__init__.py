"""Training K2-architecture models: the MuonClip optimizer, data packing and SFT masks, the trainer (DDP / FSDP2)."""

from .muonclip import MuonClip, QKClip, newton_schulz, qk_clip_
from .trainer import TrainConfig, Trainer

__all__ = ["MuonClip", "QKClip", "TrainConfig", "Trainer", "newton_schulz", "qk_clip_"]
