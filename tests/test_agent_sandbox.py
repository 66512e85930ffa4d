"""The code sandbox: runaway, hostile and nosy programs are stopped or refused, reported as tool errors, and the host carries on."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from openk2.agent.sandbox import Sandbox, SandboxLimits, bwrap_works

# The weaker fallback runs everywhere; bubblewrap where the machine has it (CI may not: see the module's docstring).
MODES = ["fallback"] + (["bwrap"] if bwrap_works() is None else [])
PROJECT_FILE = Path(__file__).resolve().parents[1] / "pyproject.toml"


@pytest.fixture(params=MODES, scope="module")
def box(request):
    with Sandbox(SandboxLimits(timeout_s=1.0, memory_mb=512, output_chars=2000), mode=request.param) as sandbox:
        yield sandbox


def run(box: Sandbox, code: str):
    return asyncio.run(box.run(code))


def leftover_processes(box: Sandbox) -> list[str]:
    """Processes still running with the sandbox directory on their command line."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if box.workdir.encode() in cmdline:
            found.append(pid)
    return found


def test_runs_code_in_its_own_directory(box):
    result = run(box, "import os\nprint(os.getcwd())\nopen('notes.txt', 'w').write('kept')")
    assert not result.is_error and result.content.strip() == box.workdir
    again = run(box, "print(open('notes.txt').read()); import json; print(json.dumps([1, 2]))")
    assert again.content == "kept\n[1, 2]\n"  # the directory persists between runs of one sandbox


def test_errors_come_back_with_the_traceback(box):
    result = run(box, "def f():\n    return 1 / 0\nf()")
    assert result.is_error and "ZeroDivisionError: division by zero" in result.content and "[exit status 1]" in result.content


def test_infinite_loop_is_killed_at_the_timeout(box):
    start = time.monotonic()
    result = run(box, "print('spinning', flush=True)\nwhile True:\n    pass")
    assert result.is_error and "time limit" in result.content and result.content.startswith("spinning")
    assert time.monotonic() - start < 2.5
    assert leftover_processes(box) == []


def test_memory_bomb_is_stopped(box):
    result = run(box, "x = bytearray(8 << 30)")
    assert result.is_error and "MemoryError" in result.content
    result = run(box, "chunks = []\nwhile True:\n    chunks.append(bytearray(50 << 20))")
    assert result.is_error and ("MemoryError" in result.content or "killed" in result.content)


@pytest.mark.parametrize("path", ["/etc/passwd", str(PROJECT_FILE), str(Path.home() / ".bashrc")])
def test_files_outside_the_sandbox_cannot_be_read(box, path):
    result = run(box, f"print(open({path!r}).read()[:100])")
    assert result.is_error and ("PermissionError" in result.content or "FileNotFoundError" in result.content)


def test_files_outside_the_sandbox_cannot_be_written_or_listed(box, tmp_path):
    target = tmp_path / "escaped.txt"
    result = run(box, f"open({str(target)!r}, 'w').write('x')")
    assert result.is_error and not target.exists()
    listing = run(box, f"import os\nprint(os.listdir({str(PROJECT_FILE.parent)!r}))")
    assert "pyproject.toml" not in listing.content  # refused (fallback) or simply not there (bwrap)


def test_network_is_unreachable(box):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    try:
        result = run(box, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=0.5)\nprint('connected')")
        assert result.is_error and "connected" not in result.content.replace("create_connection", "")
        with pytest.raises(socket.timeout):
            listener.accept()  # nothing ever reached the host's loopback
    finally:
        listener.close()


def test_fork_bomb_is_contained(box):
    result = run(box, "import os\nwhile True:\n    os.fork()")
    assert result.is_error
    assert "PermissionError" in result.content or "BlockingIOError" in result.content or "killed" in result.content
    assert leftover_processes(box) == []
    assert run(box, "print('still fine')").content == "still fine\n"  # the host, and the sandbox, carry on


def test_environment_is_scrubbed(box, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    result = run(box, "import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))")
    assert "sk-secret" not in result.content and "OPENAI_API_KEY" not in result.content


def test_output_is_truncated_keeping_both_ends(box):
    result = run(box, "print('START')\nprint('x' * 100_000)\nprint('END')")
    assert not result.is_error and len(result.content) < 2200
    assert result.content.startswith("START") and result.content.rstrip().endswith("END") and "bytes of output cut" in result.content


def test_run_python_tool(box):
    tool = box.tool()
    assert tool.name == "run_python" and tool.parameters["required"] == ["code"] and not tool.side_effect
    assert asyncio.run(tool.run({"code": "print(6 * 7)"})).content == "42\n"
    assert asyncio.run(tool.run({"program": "1"})).is_error
    failed = asyncio.run(tool.run({"code": "raise SystemExit(3)"}))
    assert failed.is_error and "[exit status 3]" in failed.content


def test_processes_and_ctypes_are_refused_in_fallback_mode():
    with Sandbox(SandboxLimits(timeout_s=2.0), mode="fallback") as sandbox:
        assert "WEAKER" in sandbox.isolation.note
        for code in ["import subprocess\nsubprocess.run(['id'])", "import os\nos.system('id')", "import ctypes",
                     "import _posixsubprocess, sys\ndel sys.modules['_posixsubprocess']\nimport _posixsubprocess"]:
            result = run(sandbox, code)
            assert result.is_error and "sandbox:" in result.content, code


def test_fork_bomb_is_refused_when_the_kernel_cannot_cap_processes(box, monkeypatch):
    # Root is exempt from RLIMIT_NPROC; without a pids cgroup the audit hook must refuse new processes instead.
    monkeypatch.setattr("openk2.agent.sandbox.pids_cgroup", lambda limit: None)
    result = run(box, "import os\nwhile True:\n    os.fork()")
    assert result.is_error and leftover_processes(box) == []
    if os.getuid() == 0:
        assert "starting processes is not allowed" in result.content
