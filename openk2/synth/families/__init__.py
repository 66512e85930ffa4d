"""The task families; importing this package registers them all (see openk2/synth/family.py)."""

from . import booking, calendar, chat, cross, email, synthetic  # noqa: F401
