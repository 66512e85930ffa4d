"""The code sandbox under attack: escape attempts run in every mode this machine has (CI installs bubblewrap, so
both bwrap and Landlock), and each must be refused while the host's witnesses stay untouched.

Each attack prints ESCAPED only if it got through. The same attacks run once without isolation
(`unsafe` mode), where the ones that could escape must print ESCAPED: so the attacks are real, not typos that
fail everywhere.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openk2.agent import sandbox as sandbox_module
from openk2.agent.confine import Policy
from openk2.agent.sandbox import Sandbox, SandboxLimits, bwrap_works, landlock_works

MODES = [m for m, problem in (("bwrap", bwrap_works()), ("landlock", landlock_works())) if problem is None]
PROJECT_FILE = Path(__file__).resolve().parents[1] / "pyproject.toml"
LIMITS = SandboxLimits(timeout_s=2.0, memory_mb=512, output_chars=4000, max_processes=16)

# Attacks: name -> code. Formatted with the host's witnesses (see `host`); each prints ESCAPED on success.
ATTACKS = {
    # ---- files
    "read /etc/shadow": "print('ESCAPED', open('/etc/shadow').read()[:40])",
    "read /etc/passwd": "print('ESCAPED', open('/etc/passwd').read()[:40])",
    "read a key file": "print('ESCAPED', open({secret!r}).read())",
    "read the project": "print('ESCAPED', open({project!r}).read()[:40])",
    "list the project": "import os\nprint('ESCAPED' if 'pyproject.toml' in os.listdir({project_dir!r}) else 'no')",
    "write outside": "open({outside!r} + '/written', 'w').write('x')\nprint('ESCAPED')",
    "write into the Python installation": "import sys, os\n"
        "p = os.path.join(sys.prefix, 'openk2-escape.pth')\nopen(p, 'w').write('import os')\nos.remove(p)\nprint('ESCAPED')",
    "write into /usr": "open('/usr/openk2-escape', 'w').write('x')\nprint('ESCAPED')",
    # From a directory D the checker allows, k '..' reach /; a checker that resolves the path against a working
    # directory 2k deep under D (rather than against the dir_fd) lands back inside D and lets it through.
    "relative open through dir_fd": "import os, sys\nD = os.path.realpath(sys.base_prefix)\nk = D.count('/')\n"
        "C = next(root for root, _, _ in os.walk(D) if root.count('/') == 2 * k)\nos.chdir(C)\n"
        "fd = os.open(D, os.O_RDONLY)\nrel = '../' * k + {secret!r}.lstrip('/')\n"
        "print('ESCAPED', os.read(os.open(rel, os.O_RDONLY, dir_fd=fd), 100))",
    "openat from an O_PATH fd of /": "import os\nroot = os.open('/', os.O_PATH)\n"
        "print('ESCAPED', os.read(os.open({secret!r}.lstrip('/'), os.O_RDONLY, dir_fd=root), 100))",
    "symlink to a secret": "import os\nos.symlink({secret!r}, 'link')\nprint('ESCAPED', open('link').read())",
    "hard link to a secret": "import os\nos.link({secret!r}, 'hard')\nprint('ESCAPED', open('hard').read())",
    "rename a secret in": "import os\nos.rename({secret!r}, 'stolen')\nprint('ESCAPED')",
    "chmod a secret": "import os\nos.chmod({secret!r}, 0o777)\nprint('ESCAPED')",
    "chmod a secret through an fd": "import os\nfd = os.open({secret!r}, os.O_PATH)\nos.chmod(fd, 0o777)\nprint('ESCAPED')",
    "touch a secret": "import os\nos.utime({secret!r}, (0, 0))\nprint('ESCAPED')",
    "set an xattr on a secret": "import os\nos.setxattr({secret!r}, 'user.x', b'1')\nprint('ESCAPED')",
    "truncate a secret": "import os\nos.truncate({secret!r}, 0)\nprint('ESCAPED')",
    "mkfifo outside": "import os\nos.mkfifo({outside!r} + '/fifo')\nprint('ESCAPED')",
    "listdir outside": "import os\nprint('ESCAPED', os.listdir({outside!r}))",
    # ---- /proc and the environment
    "another process's environment": "print('ESCAPED', open('/proc/{victim}/environ').read())",
    "another process's memory": "f = open('/proc/{victim}/mem', 'rb')\nprint('ESCAPED')",
    "the environment": "import os\nprint('ESCAPED' if any({token!r} in v for v in os.environ.values()) else 'clean', "
        "sorted(os.environ))",
    "inherited file descriptors": "import os\nnull = os.stat('/dev/null')\nopen_fds = []\nfor fd in range(3, 256):\n"
        "    try:\n        st = os.fstat(fd)\n    except OSError:\n        continue\n"
        "    if (st.st_dev, st.st_ino) != (null.st_dev, null.st_ino):\n        open_fds.append(fd)\n"
        "print('ESCAPED' if open_fds else 'none', open_fds)",
    "escape the pids cgroup": "import os\nfor base in ('/sys/fs/cgroup/pids', '/sys/fs/cgroup'):\n    try:\n"
        "        open(base + '/cgroup.procs', 'w').write(str(os.getpid()))\n        print('ESCAPED', base)\n"
        "    except OSError as e:\n        print(e)",
    # ---- network and IPC
    "TCP to 127.0.0.1": "import socket\nsocket.create_connection(('127.0.0.1', {tcp_port}), timeout=1)\nprint('ESCAPED')",
    "UDP to 127.0.0.1": "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.sendto(b'x', ('127.0.0.1', {udp_port}))\nprint('ESCAPED')",
    "listen on TCP": "import socket\ns = socket.socket()\ns.bind(('0.0.0.0', 0))\ns.listen()\nprint('ESCAPED', s.getsockname())",
    "UNIX socket on the host": "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({unix_path!r})\nprint('ESCAPED')",
    "abstract UNIX socket": "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({abstract!r})\nprint('ESCAPED')",
    "signal another process": "import os, signal\nos.kill({victim}, signal.SIGKILL)\nprint('ESCAPED')",
    # ---- native code: ctypes straight to the kernel
    "ctypes socket()": "import ctypes\nfd = ctypes.CDLL(None).socket(2, 1, 0)\nprint('ESCAPED' if fd >= 0 else 'refused', fd)",
    "ctypes unshare a user namespace": "import ctypes\nr = ctypes.CDLL(None).unshare(0x10000000)\n"
        "print('ESCAPED' if r == 0 else 'refused', r)",
    "ctypes ptrace attach": "import ctypes\nr = ctypes.CDLL(None).ptrace(16, {victim}, 0, 0)\n"
        "print('ESCAPED' if r == 0 else 'refused', r)",
    "ctypes mount": "import ctypes\nr = ctypes.CDLL(None).mount(b'none', {outside!r}.encode(), b'tmpfs', 0, None)\n"
        "print('ESCAPED' if r == 0 else 'refused', r)",
    "ctypes setsid (leave the killed group)": "import ctypes, os\nr, w = os.pipe()\nif os.fork() == 0:\n"
        "    os.write(w, str(ctypes.CDLL(None).setsid()).encode())\n    os._exit(0)\nos.wait()\nv = int(os.read(r, 20))\n"
        "print('ESCAPED' if v > 0 else 'refused', v)",
    "raise the memory limit": "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\nprint('ESCAPED')",
    # ---- processes: subprocess and its internals
    "subprocess reads a secret": "import subprocess\n"
        "out = subprocess.run(['/bin/sh', '-c', 'cat {secret}'], capture_output=True, text=True)\n"
        "print('ESCAPED' if {token!r} in out.stdout else 'refused', out.stderr[-80:])",
    "subprocess writes outside": "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'echo x > {outside}/sh'])\n"
        "import os\nprint('ESCAPED' if os.path.exists({outside!r} + '/sh') else 'refused')",
    # The audit-hook sandbox refused subprocess.Popen's audit event: subprocess looks sys.audit up through its own global.
    "subprocess without its audit event": "import subprocess, sys, types\nquiet = types.ModuleType('sys')\n"
        "quiet.__dict__.update(sys.__dict__)\nquiet.audit = lambda *args: None\nsubprocess.sys = quiet\n"
        "out = subprocess.run(['/bin/sh', '-c', 'cat {secret} /etc/shadow'], capture_output=True, text=True).stdout\n"
        "print('ESCAPED' if {token!r} in out or 'root:' in out else 'refused')",
    "_posixsubprocess.fork_exec kept by subprocess": "import subprocess, _posixsubprocess\n"
        "_posixsubprocess.fork_exec = subprocess._fork_exec\n"
        "out = subprocess.run(['/bin/sh', '-c', 'cat {secret}'], capture_output=True, text=True).stdout\n"
        "print('ESCAPED' if {token!r} in out else 'refused')",
    "background process outlives the run": "import os, time\nif os.fork() == 0:\n    os.close(1)\n    os.close(2)\n"
        "    time.sleep(1)\n    open({outside!r} + '/late', 'w').write('x')\n    os._exit(0)\nprint('parent done')",
}
# Attacks that must succeed without isolation (proof that they are real). The others are refused by the limits
# that every mode keeps (a scrubbed environment, closed descriptors, rlimits), or need privileges the test lacks.
REAL_WITHOUT_ISOLATION = {"read a key file", "read the project", "list the project", "write outside", "chmod a secret",
                          "touch a secret", "truncate a secret",
                          "relative open through dir_fd", "openat from an O_PATH fd of /", "symlink to a secret",
                          "mkfifo outside", "listdir outside", "TCP to 127.0.0.1",
                          "UDP to 127.0.0.1", "listen on TCP", "UNIX socket on the host", "abstract UNIX socket",
                          "ctypes socket()", "ctypes setsid (leave the killed group)", "subprocess reads a secret",
                          "subprocess writes outside", "subprocess without its audit event",
                          "_posixsubprocess.fork_exec kept by subprocess"}
if os.getuid() != 0:  # root's child, even unconfined, drops its capabilities, and then may not read root's /proc files
    REAL_WITHOUT_ISOLATION.add("another process's environment")


def run(box: Sandbox, code: str):
    return asyncio.run(box.run(code))


@pytest.fixture(params=MODES, scope="module")
def box(request):
    with Sandbox(LIMITS, mode=request.param) as sandbox:
        yield sandbox


class Host:
    """Witnesses outside the sandbox: a secret file, a directory, listening sockets and a victim process."""

    def __init__(self, root: Path):
        self.token = "TOKEN-" + secrets.token_hex(8)
        self.outside = root / "outside"
        self.outside.mkdir()
        self.secret = root / "secret.key"
        self.restore_secret()
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.unix_path = str(root / "host.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        self.unix.listen()
        self.abstract = "\0openk2-test-" + secrets.token_hex(6)
        self.abstract_sock = socket.socket(socket.AF_UNIX)
        self.abstract_sock.bind(self.abstract)
        self.abstract_sock.listen()
        for s in (self.tcp, self.udp, self.unix, self.abstract_sock):
            s.setblocking(False)
        self.victim = subprocess.Popen(["sleep", "600"], env={"PATH": os.environ["PATH"], "VICTIM_SECRET": self.token})

    def restore_secret(self) -> None:
        self.secret.unlink(missing_ok=True)
        self.secret.write_text(self.token)
        self.secret.chmod(0o644)
        os.utime(self.secret, (1_700_000_000, 1_700_000_000))
        self.pristine = self.secret_state()

    def secret_state(self):
        if not self.secret.exists():
            return None
        st = self.secret.stat()
        return self.secret.read_text(), st.st_mode, st.st_mtime_ns, os.listxattr(self.secret)

    def values(self) -> dict:
        return {"secret": str(self.secret), "token": self.token, "outside": str(self.outside), "project": str(PROJECT_FILE),
                "project_dir": str(PROJECT_FILE.parent), "tcp_port": self.tcp.getsockname()[1],
                "udp_port": self.udp.getsockname()[1], "unix_path": self.unix_path, "abstract": self.abstract,
                "victim": self.victim.pid}

    def breaches(self) -> list[str]:
        """What reached the host since the last call (each check also clears it)."""
        found = []
        for name, sock in (("tcp", self.tcp), ("unix", self.unix), ("abstract", self.abstract_sock)):
            try:
                sock.accept()[0].close()
                found.append(f"{name} connection")
            except BlockingIOError:
                pass
        try:
            self.udp.recv(16)
            found.append("udp datagram")
        except BlockingIOError:
            pass
        if self.secret_state() != self.pristine:
            found.append("secret changed")
            self.restore_secret()
        if self.victim.poll() is not None:
            found.append("victim killed")
            self.victim = subprocess.Popen(["sleep", "600"], env={"PATH": os.environ["PATH"], "VICTIM_SECRET": self.token})
        for entry in self.outside.iterdir():
            found.append(f"wrote {entry.name}")
            entry.unlink()
        return found

    def close(self) -> None:
        self.victim.kill()
        self.victim.wait()
        for s in (self.tcp, self.udp, self.unix, self.abstract_sock):
            s.close()


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    witnesses = Host(tmp_path_factory.mktemp("host"))
    yield witnesses
    witnesses.close()


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_escape_attempt_is_refused(box, host, attack):
    result = run(box, "print('RAN', flush=True)\n" + ATTACKS[attack].format(**host.values()))
    assert result.content.startswith("RAN"), result.content  # confined, and running: not refused at start-up
    if attack == "background process outlives the run":
        time.sleep(1.5)  # the orphan would write its file after 1 s
    assert "ESCAPED" not in result.content and host.token not in result.content, result.content
    assert host.breaches() == []
    assert leftover_processes(box) == []


def test_the_attacks_are_real_without_isolation(host):
    """The same attacks, unconfined: those that can escape do (a typo'd attack would pass every mode above)."""
    with Sandbox(LIMITS, mode="unsafe") as unsafe:
        got_through = set()
        for attack in sorted(REAL_WITHOUT_ISOLATION):
            result = run(unsafe, ATTACKS[attack].format(**host.values()))
            if "ESCAPED" in result.content or host.token in result.content or host.breaches():
                got_through.add(attack)
            host.breaches()
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
