"""openk2: an open, hackable implementation of the Kimi K2 system (MLA + MoE), from checkpoint to agent."""

__version__ = "0.1.0"
