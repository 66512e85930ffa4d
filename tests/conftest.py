"""Shared fixtures: a tiny checkpoint with a trained tokenizer that has learnt a few scripted replies, and a live API server."""

from __future__ import annotations

import os

# Tiny test models gain nothing from a second thread, and on a busy 2-core machine (tests start
# servers, CLIs and torchrun workers as subprocesses) OpenMP workers waiting for a descheduled
# sibling made ops up to 40x slower. One thread per process, inherited by the subprocesses.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import shutil
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
HELLO = [{"role": "user", "content": "Hello"}]
HELLO_REPLY = "Hello! How can I help you today?"
WEATHER_QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_ARGUMENTS = '{"city": "Paris"}'
WEATHER_CALL = {"id": "functions.get_weather:0", "type": "function",
                "function": {"name": "get_weather", "arguments": WEATHER_ARGUMENTS}}
WEATHER_RESULT = [*WEATHER_QUESTION, {"role": "assistant", "content": "", "tool_calls": [WEATHER_CALL]},
                  {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "sunny, 24 C"}]
WEATHER_REPLY = "It is sunny in Paris."


@dataclass
class Script:
    """The scripted checkpoint: greedy decoding of these conversations gives these replies."""

    path: Path
    tool: dict = field(default_factory=lambda: WEATHER_TOOL)
    hello: list = field(default_factory=lambda: HELLO)
    hello_reply: str = HELLO_REPLY
    question: list = field(default_factory=lambda: WEATHER_QUESTION)
    arguments: str = WEATHER_ARGUMENTS
    followup: list = field(default_factory=lambda: WEATHER_RESULT)
    followup_reply: str = WEATHER_REPLY


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's torch work on one thread. Tiny models gain nothing from a second one, and on a busy
    2-core machine every op would wait for a descheduled worker: 40x slower, measured."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def scripted_checkpoint(tmp_path_factory) -> Script:
    """A 2-layer K2-architecture model (vocab 768, 512-token context) trained for a second on three chats,
    until greedy decoding reproduces them: a plain reply, a get_weather tool call (K2's markers, valid JSON
    arguments), and an answer after the tool result. Any other prompt gets deterministic gibberish."""
    from openk2.chat import encode_prompt
    from openk2.checkpoint import save_model
    from openk2.config import ModelConfig
    from openk2.model import CausalLM
    from openk2.tokenizer import Tokenizer, write_default_tokenizer

    path = tmp_path_factory.mktemp("scripted")
    write_default_tokenizer(path, 768)
    tokenizer = Tokenizer.from_dir(path)
    im_end = tokenizer.special_id("<|im_end|>")
    call = tokenizer.encode_with_specials(
        f"<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
        f"{WEATHER_ARGUMENTS}<|tool_call_end|><|tool_calls_section_end|><|im_end|>")
    chats = [(HELLO, None, tokenizer.encode(HELLO_REPLY) + [im_end]),
             (WEATHER_QUESTION, [WEATHER_TOOL], call),
             (WEATHER_RESULT, [WEATHER_TOOL], tokenizer.encode(WEATHER_REPLY) + [im_end])]
    rows = [(encode_prompt(tokenizer, messages, tools=tools), reply) for messages, tools, reply in chats]
    width = max(len(p) + len(r) for p, r in rows) - 1
    inputs = torch.zeros(len(rows), width, dtype=torch.long)
    targets = torch.full((len(rows), width), -100)  # the loss covers the replies only
    for i, (prompt, reply) in enumerate(rows):
        tokens = torch.tensor(prompt + reply)
        inputs[i, : len(tokens) - 1] = tokens[:-1]
        targets[i, len(prompt) - 1 : len(tokens) - 1] = tokens[len(prompt):]

    config = ModelConfig(vocab_size=768, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8,
                         v_head_dim=16, max_position_embeddings=512, eos_token_id=im_end)
    torch.manual_seed(0)
    model = CausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    mask = targets != -100
    for _ in range(500):
        logits = model(inputs)
        # Stop once every scripted token is clearly the most likely one, so that greedy decoding in the
        # engine (a different but equivalent computation) cannot flip a near-tie.
        if logits.softmax(-1)[mask].gather(1, targets[mask][:, None]).min() > 0.8:
            break
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    else:
        raise AssertionError("the scripted model did not learn its replies")
    save_model(model.eval(), path)
    return Script(path)


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:PORT
    app: object
    thread: threading.Thread | None = None
    uvicorn: object = None

    def stop(self) -> None:
        """Shut the server down now, as a crash or a restart would look to its clients."""
        self.uvicorn.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the server did not stop"

    @property
    def serving(self):
        return self.app.state.serving

    @property
    def cache(self):
        return self.serving.engine.llm.cache

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until the engine holds no request and every ledger row is written."""
        deadline = time.monotonic() + timeout
        while self.serving.engine.in_flight or self.cache.num_free_blocks != self.cache.num_blocks:
            assert time.monotonic() < deadline, "the engine did not go idle"
            time.sleep(0.01)
        self.serving.ledger.flush()


@contextmanager
def live_server(checkpoint: Path, tmp_path: Path, model_name: str = "openk2-test", engine=None, agent=None,
                aliases: tuple[str, ...] = (), **config):
    """Run the real app under uvicorn on a free loopback port, in a thread, with agent sessions as `openk2 serve`
    has them (`agent`: AgentSessions' base_url, api_key, model); `aliases`: more model names it answers to."""
    import uvicorn

    from openk2.agent.sessions import AgentSessions
    from openk2.engine import EngineConfig, LLMEngine
    from openk2.server.app import create_app
    from openk2.server.settings import ModelSettings, ServerConfig

    engine_config = EngineConfig(**{"cache_budget_bytes": 4 * 1024**2, "block_size": 16, "max_batch_tokens": 512,
                                    **(engine or {})})
    llm = LLMEngine.from_pretrained(checkpoint, dtype=torch.float32, config=engine_config)
    config.setdefault("db", f"sqlite:///{tmp_path / 'server.db'}")
    app = create_app(llm, ModelSettings(model_name, aliases), ServerConfig(**config), AgentSessions(**(agent or {})))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server failed to start"
        time.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{sock.getsockname()[1]}", app, thread, server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def server(scripted_checkpoint, tmp_path_factory) -> LiveServer:
    """One server for the protocol tests: keys optional, no limits."""
    with live_server(scripted_checkpoint.path, tmp_path_factory.mktemp("server")) as live:
        yield live


@pytest.fixture(scope="session")
def endless_checkpoint(scripted_checkpoint, tmp_path_factory) -> Path:
    """A random 2-layer model with an 8K context that writes plain text and never ends its turn: its head's rows for
    the special tokens (stop tokens and markers) are zero, so their logit is 0 while the largest of the 512 other
    (symmetric, random) logits is above 0 at every step, except with probability 2^-512. Greedy decoding runs to
    max_tokens: long generations to stop or cancel."""
    from openk2.checkpoint import save_model
    from openk2.config import ModelConfig
    from openk2.model import CausalLM
    from openk2.tokenizer import Tokenizer

    path = tmp_path_factory.mktemp("endless")
    for name in ("tiktoken.model", "tokenizer_config.json", "special_tokens_map.json"):  # no second BPE training
        shutil.copy(scripted_checkpoint.path / name, path / name)
    tokenizer = Tokenizer.from_dir(path)
    config = ModelConfig(vocab_size=768, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8,
                         v_head_dim=16, max_position_embeddings=8192, eos_token_id=tokenizer.special_id("<|im_end|>"))
    torch.manual_seed(0)
    model = CausalLM(config)
    with torch.no_grad():
        model.lm_head.weight[tokenizer.n_bpe:] = 0
    save_model(model.eval(), path)
    return path
