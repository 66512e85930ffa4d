"""The synthetic tool domains (see openk2/synth/synthetic.py); importing this package registers them all."""

from . import weather  # noqa: F401
