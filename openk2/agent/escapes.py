"""Escape attempts against the code sandbox, and the host-side witnesses that tell whether one got through.

Used by tests/test_agent_sandbox.py (every attack in every mode the machine has) and bench/reliability.py (the
count of escapes refused). Each attack is Python source that prints ESCAPED only if it got through; formatted with
`Host.values()` (a secret file, a directory outside, listening sockets, a victim process).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .sandbox import Sandbox

PROJECT_FILE = Path(__file__).resolve().parents[2] / "pyproject.toml"  # a project file the sandbox must not read

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



@dataclass
class Attempt:
    attack: str
    escaped: bool
    output: str


def attempt(box: Sandbox, host: Host, attack: str) -> Attempt:
    """Run one attack; it escaped if it says so, shows the secret, or left a mark on the host."""
    result = asyncio.run(box.run("print('RAN', flush=True)\n" + ATTACKS[attack].format(**host.values())))
    if attack == "background process outlives the run":
        time.sleep(1.5)  # the orphan would write its file after 1 s
    marks = host.breaches()
    escaped = "ESCAPED" in result.content or host.token in result.content or bool(marks)
    return Attempt(attack, escaped, result.content + (f"\n[host: {', '.join(marks)}]" if marks else ""))
