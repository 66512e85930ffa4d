"""The synthetic tool domains (see openk2/synth/synthetic.py); importing this package registers them all.

Shared helpers live in common.py. Domains marked "heldout" (crypto, museum, tides, vet) never appear in training.
"""

from . import (  # noqa: F401
    bank, clock, crypto, currency, dictionary, files, fitness, flights, library, maps, movies, museum, notes, parcels,
    parking, pharmacy, places, recipes, shopping, smarthome, sports, stocks, tides, todo, transit, units, vet, weather,
)
