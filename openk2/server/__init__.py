"""The API server: Kimi K2 behind OpenAI- and Anthropic-compatible HTTP APIs, with API keys, rate limits, a usage
ledger and metrics. `create_app` is in app.py, its settings in settings.py."""
