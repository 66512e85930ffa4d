"""The code sandbox under attack: escape attempts run in every mode this machine has (CI installs bubblewrap, so
both bwrap and Landlock), and each must be refused while the host's witnesses stay untouched.

Each attack prints ESCAPED only if it got through. The same attacks run once without isolation
(`unsafe` mode), where the ones that could escape must print ESCAPED: so the attacks are real, not typos that
fail everywhere.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openk2.agent import sandbox as sandbox_module
from openk2.agent.confine import Policy
from openk2.agent.escapes import ATTACKS, REAL_WITHOUT_ISOLATION, Host, attempt
from openk2.agent.sandbox import Sandbox, SandboxLimits, bwrap_works, landlock_works

MODES = [m for m, problem in (("bwrap", bwrap_works()), ("landlock", landlock_works())) if problem is None]
LIMITS = SandboxLimits(timeout_s=2.0, memory_mb=512, output_chars=4000, max_processes=16)


def run(box: Sandbox, code: str):
    return asyncio.run(box.run(code))


@pytest.fixture(params=MODES, scope="module")
def box(request):
    with Sandbox(LIMITS, mode=request.param) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    witnesses = Host(tmp_path_factory.mktemp("host"))
    yield witnesses
    witnesses.close()


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_escape_attempt_is_refused(box, host, attack):
    result = attempt(box, host, attack)
    assert result.output.startswith("RAN"), result.output  # confined, and running: not refused at start-up
    assert not result.escaped, result.output
    assert leftover_processes(box) == []


def test_the_attacks_are_real_without_isolation(host):
    """The same attacks, unconfined: those that can escape do (a typo'd attack would pass every mode above)."""
    with Sandbox(LIMITS, mode="unsafe") as unsafe:
        got_through = set()
        for attack in sorted(REAL_WITHOUT_ISOLATION):
            if attempt(unsafe, host, attack).escaped:
                got_through.add(attack)
    assert got_through == REAL_WITHOUT_ISOLATION


def test_there_is_a_sandbox_to_test():
    """CI installs bubblewrap, and its kernel has Landlock: both modes must run there."""
    if os.environ.get("CI"):
        assert MODES == ["bwrap", "landlock"], (bwrap_works(), landlock_works())
    assert MODES, f"no sandbox mode works here: {bwrap_works()}; {landlock_works()}"


def processes_allowed() -> bool:
    """Whether sandboxed code may start processes here: root needs a pids cgroup, else seccomp refuses them."""
    if os.getuid() != 0:
        return True
    group = sandbox_module.pids_cgroup(1)
    if group is not None:
        group.rmdir()
    return group is not None


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


# ---- limits: bounded within seconds, the host carries on ----------------------------------------------------------

def test_fork_bomb_is_bounded(box):
    start = time.monotonic()
    result = run(box, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass")
    assert result.is_error and time.monotonic() - start < LIMITS.timeout_s + 2
    assert leftover_processes(box) == []
    assert run(box, "print('still fine')").content == "still fine\n"  # the host, and the sandbox, carry on


def test_20_gb_allocation_fails_at_once(box):
    start = time.monotonic()
    result = run(box, "x = bytearray(20 << 30)")
    assert result.is_error and "MemoryError" in result.content and time.monotonic() - start < LIMITS.timeout_s
    result = run(box, "chunks = []\nwhile True:\n    chunks.append(bytearray(50 << 20))")
    assert result.is_error and ("MemoryError" in result.content or "killed" in result.content)


def test_infinite_loop_is_killed_at_the_timeout(box):
    start = time.monotonic()
    result = run(box, "print('spinning', flush=True)\nwhile True:\n    pass")
    assert result.is_error and "time limit" in result.content and result.content.startswith("spinning")
    assert time.monotonic() - start < LIMITS.timeout_s + 1.5
    assert leftover_processes(box) == []


def test_fork_bomb_is_refused_when_nothing_caps_processes(box, monkeypatch):
    # Root is exempt from RLIMIT_NPROC; without a pids cgroup, seccomp must refuse new processes instead.
    monkeypatch.setattr(sandbox_module, "pids_cgroup", lambda limit: None)
    result = run(box, "import os\nwhile True:\n    os.fork()")
    assert result.is_error and leftover_processes(box) == []
    if os.getuid() == 0:
        assert "PermissionError" in result.content


def test_signals_are_refused_where_landlock_cannot_scope_them(host, tmp_path):
    """Landlock scopes signals from ABI 6 (Linux 6.12); below it seccomp refuses them all. Force the older path."""
    policy = Policy(str(tmp_path), sandbox_module.readable_roots(), landlock=True, seccomp=True,
                    libraries=sandbox_module.libraries())
    code = f"import os, signal\nos.kill({host.victim.pid}, signal.SIGKILL)\nprint('ESCAPED')"
    script = sandbox_module.CONFINE.replace("abi = landlock_abi()", "abi = min(landlock_abi(), 5)")
    assert script != sandbox_module.CONFINE
    out = subprocess.run([sys.executable, "-I", "-c", script, policy.argv()], input=code, capture_output=True,
                         text=True, timeout=30, cwd=tmp_path, env=sandbox_module.scrubbed_env(str(tmp_path)))
    assert "ESCAPED" not in out.stdout and "PermissionError" in out.stderr and host.breaches() == []


# ---- ordinary use ---------------------------------------------------------------------------------------------------

def test_runs_code_in_its_own_directory(box):
    result = run(box, "import os\nprint(os.getcwd())\nopen('notes.txt', 'w').write('kept')")
    assert not result.is_error and result.content.strip() == box.workdir
    again = run(box, "print(open('notes.txt').read()); import json; print(json.dumps([1, 2]))")
    assert again.content == "kept\n[1, 2]\n"  # the directory persists between runs of one sandbox


def test_ordinary_programs_work(box):
    code = ("import asyncio, threading, os, shutil, zoneinfo, decimal, sqlite3\n"
            "os.makedirs('a/b', exist_ok=True); open('a/b/f', 'w').write('x'); shutil.move('a/b/f', 'a/g')\n"
            "t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
            "print(asyncio.run(asyncio.sleep(0, 'loop')))\n"
            "db = sqlite3.connect('x.db'); db.execute('create table t (x)'); db.commit()\n"
            "print(zoneinfo.ZoneInfo('Europe/London').key, open('/dev/null', 'w').write('x'), sorted(os.listdir('a')))")
    result = run(box, code)
    assert result.content == "thread\nloop\nEurope/London 1 ['b', 'g']\n", result.content
    if processes_allowed():
        result = run(box, "import subprocess\nprint(subprocess.run(['echo', 'child'], capture_output=True).stdout)")
        assert result.content == "b'child\\n'\n", result.content


def test_errors_come_back_with_the_traceback(box):
    result = run(box, "def f():\n    return 1 / 0\nf()")
    assert result.is_error and "ZeroDivisionError: division by zero" in result.content and "[exit status 1]" in result.content


def test_output_is_truncated_keeping_both_ends(box):
    result = run(box, "print('START')\nprint('x' * 100_000)\nprint('END')")
    assert not result.is_error and len(result.content) < LIMITS.output_chars + 200
    assert result.content.startswith("START") and result.content.rstrip().endswith("END") and "bytes of output cut" in result.content


def test_run_python_tool_asks_before_running(box):
    tool = box.tool()
    assert tool.name == "run_python" and tool.parameters["required"] == ["code"]
    assert tool.side_effect  # so the agent's approval policy is asked before any code runs
    assert asyncio.run(tool.run({"code": "print(6 * 7)"})).content == "42\n"
    assert asyncio.run(tool.run({"program": "1"})).is_error
    failed = asyncio.run(tool.run({"code": "raise SystemExit(3)"}))
    assert failed.is_error and "[exit status 3]" in failed.content


# ---- choosing a mode ------------------------------------------------------------------------------------------------

def test_without_an_os_boundary_the_sandbox_refuses(monkeypatch):
    monkeypatch.setattr(sandbox_module, "bwrap_works", lambda: "bubblewrap (bwrap) is not installed")
    monkeypatch.setattr(sandbox_module, "landlock_works", lambda: "the kernel has no Landlock")
    with pytest.raises(ValueError, match="no OS-level code sandbox.*--unsafe-code-execution"):
        Sandbox()
    with Sandbox(mode="unsafe") as unsafe:
        assert unsafe.mode == "unsafe" and "NO ISOLATION" in unsafe.isolation.note


def test_auto_prefers_bubblewrap_then_landlock():
    expected = "bwrap" if bwrap_works() is None else "landlock" if landlock_works() is None else None
    if expected is None:
        pytest.skip("no sandbox mode here")
    with Sandbox() as box:
        assert box.mode == expected
