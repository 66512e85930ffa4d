"""A `run_python` tool: model-written code in a separate process behind an OS-level boundary (bubblewrap or Landlock).

Threat model, honestly: a sandboxed process is not a VM. It shares the host kernel, so a kernel bug is
an escape. What each mode promises:

- `bwrap` (bubblewrap, used when installed and working): the code runs in new user, PID, network,
  IPC and UTS namespaces with a read-only view of /usr and the Python installation, its own
  throw-away directory as the only writable path, no /etc, no home, no project files, and only a
  loopback network device (so no network at all). Killing the sandbox kills every process in it.
  Landlock and seccomp (below) are applied inside as well where the kernel has them.
- `landlock` (no bubblewrap; Linux 5.13+ with Landlock, and libseccomp): the code runs as the same user (root
  without any capability, if the agent runs as root), confined by the kernel (confine.py): Landlock lets it read
  only the system and Python directories and write only its own directory, with no TCP (and, on Linux 6.12+, no
  signals or abstract sockets beyond the sandbox); seccomp refuses sockets, ptrace, namespaces, mounts, new
  sessions and more. Both are irreversible for the process and its children, ctypes and native code included.
- `unsafe` (only when asked for, e.g. `openk2 agent --unsafe-code-execution`): a plain child process with the
  limits below and nothing else. Model code can then read and write what the user can, and reach the network.
  `auto` never picks it: where neither boundary works, making a Sandbox fails with the reasons.

All modes: a wall-clock timeout (the whole process group, or PID namespace, is killed), address-space,
CPU-time, file-size and open-file limits, a process limit (RLIMIT_NPROC, which the kernel does not apply
to root; as root we use a pids cgroup when we can create one, otherwise seccomp refuses new processes),
a scrubbed environment (no API keys), a fresh working directory, and output truncated to a limit.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from . import confine
from .confine import Policy
from .tools import Tool, ToolResult

Mode = Literal["auto", "bwrap", "landlock", "unsafe"]
# Runs in the child interpreter: confines it, then runs the code from stdin (see confine.py).
CONFINE = Path(confine.__file__).read_text()
UNSAFE_HINT = "pass --unsafe-code-execution to run model code without isolation, or install bubblewrap"


@dataclass
class SandboxLimits:
    """Per run. Memory is address space (RLIMIT_AS), so it counts mapped but untouched memory too."""

    timeout_s: float = 10.0
    memory_mb: int = 1024
    output_chars: int = 10_000
    max_processes: int = 32
    file_size_mb: int = 64
    open_files: int = 256


@dataclass(frozen=True)
class Isolation:
    """The boundary this machine allows: the mode, which kernel layers run inside it, and a note saying what it is."""

    mode: Literal["bwrap", "landlock", "unsafe"]
    note: str
    landlock: bool = False  # Landlock applied in the child
    seccomp: bool = False  # the seccomp filter applied in the child


# Every namespace bubblewrap offers, with the code running as an unprivileged user inside its own user namespace.
NAMESPACES = ("--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534")


@functools.cache
def bwrap_works() -> str | None:
    """None when bubblewrap is installed and can create namespaces here; else the reason it cannot be used."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", *NAMESPACES, "--die-with-parent", "--proc", "/proc", "true"],
                           capture_output=True, text=True, timeout=10)
    return None if probe.returncode == 0 else f"bwrap cannot create namespaces here: {probe.stderr.strip()[:200]}"


@functools.cache
def landlock_works() -> str | None:
    """None when a child confined by Landlock + seccomp runs here (tried once); else the reason it cannot."""
    if confine.landlock_abi() < 1:
        return "the kernel has no Landlock (Linux 5.13+ with landlock in its LSM list)"
    if problem := confine.seccomp_problem():
        return problem
    with tempfile.TemporaryDirectory(prefix="openk2-probe-") as workdir:
        policy = Policy(workdir, readable_roots(), landlock=True, seccomp=True, libraries=libraries())
        probe = subprocess.run([sys.executable, "-I", "-c", CONFINE, policy.argv()], input="print('ok')",
                               capture_output=True, text=True, timeout=30, cwd=workdir, env=scrubbed_env(workdir))
    if probe.stdout != "ok\n":
        return f"a Landlock-confined process failed here: {(probe.stderr.strip().splitlines() or ['?'])[-1][:200]}"
    return None


def choose_isolation(mode: Mode) -> Isolation:
    """The strongest boundary `mode` allows here; ValueError naming what is missing when there is none."""
    if mode == "unsafe":
        return Isolation("unsafe", "NO ISOLATION (--unsafe-code-execution): model code runs with your permissions")
    bwrap = bwrap_works() if mode in ("auto", "bwrap") else "not tried (mode landlock)"
    if bwrap is None:
        # Inside the namespaces, Landlock and seccomp add depth where the kernel has them.
        return Isolation("bwrap", "namespaces via bubblewrap", confine.landlock_abi() >= 1, confine.seccomp_problem() is None)
    if mode == "bwrap":
        raise ValueError(f"sandbox mode bwrap is unavailable: {bwrap}")
    landlock = landlock_works()
    if landlock is None:
        return Isolation("landlock", "Landlock + seccomp (bubblewrap is not available)", True, True)
    reasons = f"{landlock}" if mode == "landlock" else f"{bwrap}; {landlock}"
    raise ValueError(f"no OS-level code sandbox on this machine ({reasons}); {UNSAFE_HINT}")


@functools.cache
def libraries() -> dict[str, str]:
    return confine.find_libraries()


def readable_roots() -> list[str]:
    """What the sandboxed code may read and execute: the system directories and the Python installation."""
    return [*confine.SYSTEM_ROOTS, *python_roots()]


def python_roots() -> list[str]:
    """The directories the sandboxed interpreter must read: its installation and the active environment."""
    return sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix)})


def bwrap_command(workdir: str) -> list[str]:
    # bwrap mounts in order, later over earlier: the empty /tmp comes first so that a Python
    # installed under /tmp (a virtualenv in a fresh clone, say) stays visible above it.
    command = ["bwrap", "--die-with-parent", "--new-session", *NAMESPACES, "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):  # merged-/usr systems link these into /usr
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    for root in python_roots():
        if not root.startswith("/usr/"):
            command += ["--ro-bind", root, root]
    if os.path.isdir("/usr/share/zoneinfo"):
        command += ["--ro-bind", "/usr/share/zoneinfo", "/usr/share/zoneinfo"]
    return command + ["--proc", "/proc", "--dev", "/dev", "--bind", workdir, workdir, "--chdir", workdir]


def user_process_count(uid: int) -> int:
    """How many processes the user runs now: RLIMIT_NPROC counts them all, not just the sandbox's."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return count


_cgroup_ids = itertools.count()


def pids_cgroup(limit: int) -> Path | None:
    """A fresh cgroup capping the number of processes (for root, whom RLIMIT_NPROC does not bind), or None."""
    for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):  # cgroup v1's pids hierarchy, or v2's root
        if not (base / "cgroup.procs").exists() or not os.access(base, os.W_OK):
            continue
        group = base / f"openk2-sandbox-{os.getpid()}-{next(_cgroup_ids)}"
        try:
            group.mkdir()
            (group / "pids.max").write_text(str(limit))
            return group
        except OSError:
            if group.exists():
                group.rmdir()
    return None


async def remove_cgroup(group: Path) -> None:
    for _ in range(50):  # killed processes leave the group once the kernel has reaped them
        try:
            group.rmdir()
            return
        except OSError:
            await asyncio.sleep(0.01)


def set_limits(limits: SandboxLimits, nproc: int, cgroup: Path | None) -> None:
    """Runs in the child between fork and exec. Soft and hard limits are equal so the code cannot raise them."""
    if cgroup is not None:
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))
    cpu = int(limits.timeout_s) + 2  # a backstop: the wall-clock timeout normally acts first
    for name, value in [(resource.RLIMIT_AS, limits.memory_mb << 20), (resource.RLIMIT_CPU, cpu),
                        (resource.RLIMIT_FSIZE, limits.file_size_mb << 20), (resource.RLIMIT_NOFILE, limits.open_files),
                        (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, nproc)]:
        hard = resource.getrlimit(name)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)  # a limit may only go down
        resource.setrlimit(name, (value, value))


class Sandbox:
    """Runs Python code in a throw-away directory that lives as long as the sandbox (files persist between runs).

    Use as a context manager, or call `close()`, to delete the directory.
    """

    def __init__(self, limits: SandboxLimits | None = None, mode: Mode = "auto"):
        if sys.platform != "linux":
            raise ValueError("the code sandbox needs Linux (namespaces, rlimits, /proc)")
        self.limits = limits or SandboxLimits()
        self.isolation = choose_isolation(mode)
        self.workdir = os.path.realpath(tempfile.mkdtemp(prefix="openk2-sandbox-"))

    @property
    def mode(self) -> str:
        return self.isolation.mode

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    async def run(self, code: str) -> ToolResult:
        """Run `code` once; stdout and stderr come back together, cut to the output limit."""
        limits, uid, isolation = self.limits, os.getuid(), self.isolation
        cgroup = pids_cgroup(limits.max_processes) if uid == 0 else None
        # RLIMIT_NPROC does not bind root: without a pids cgroup, seccomp refuses new processes altogether.
        processes = uid != 0 or cgroup is not None
        if not processes and isolation.mode == "bwrap" and not isolation.seccomp:
            return ToolResult("Error: the sandbox cannot cap processes here (root, no pids cgroup, no seccomp); "
                              "run the agent as an ordinary user", True)
        policy = Policy(self.workdir, readable_roots(), landlock=isolation.landlock, seccomp=isolation.seccomp,
                        processes=processes, namespaces=isolation.mode == "bwrap", libraries=libraries())
        nproc = user_process_count(uid) + limits.max_processes
        argv = [sys.executable, "-I", "-c", CONFINE, policy.argv()]
        if self.mode == "bwrap":
            argv = bwrap_command(self.workdir) + ["--clearenv", *env_flags(self.workdir), "--"] + argv
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                cwd=self.workdir, env=scrubbed_env(self.workdir), start_new_session=True,
                preexec_fn=functools.partial(set_limits, limits, nproc, cgroup))
            return await self.collect(proc, code)
        finally:
            if cgroup is not None:
                await remove_cgroup(cgroup)

    async def collect(self, proc: asyncio.subprocess.Process, code: str) -> ToolResult:
        head, tail, total = bytearray(), bytearray(), 0
        keep_head, keep_tail = self.limits.output_chars * 3 // 4, self.limits.output_chars // 4

        async def feed() -> None:
            try:
                proc.stdin.write(code.encode())
                await proc.stdin.drain()
                proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the program ended before reading all of its code; its output says why

        async def read() -> None:
            nonlocal total
            # Keep the start and the end (where tracebacks are); drop the middle of a flood.
            while chunk := await proc.stdout.read(65536):
                total += len(chunk)
                take = max(0, keep_head - len(head))
                head.extend(chunk[:take])
                tail.extend(chunk[take:])
                del tail[:max(0, len(tail) - keep_tail)]
            await proc.wait()

        timed_out = False
        try:
            await asyncio.wait_for(asyncio.gather(feed(), read()), self.limits.timeout_s)
        except asyncio.TimeoutError:
            timed_out = True
        finally:
            kill_group(proc.pid)  # also ends anything the code left running in the background
            await proc.wait()
        cut = total - len(head) - len(tail)
        text = head.decode(errors="replace") + (f"\n[... {cut} bytes of output cut ...]\n" if cut else "") + tail.decode(errors="replace")
        if timed_out:
            return ToolResult(f"{text}\n[killed: the code ran past the {self.limits.timeout_s:g} s time limit]".lstrip(), True)
        if proc.returncode < 0:
            name = signal.Signals(-proc.returncode).name
            hint = " (memory or CPU limit?)" if name in ("SIGKILL", "SIGSEGV", "SIGXCPU") else ""
            return ToolResult(f"{text}\n[killed by {name}{hint}]".lstrip(), True)
        if proc.returncode != 0:
            return ToolResult(f"{text}\n[exit status {proc.returncode}]".lstrip(), True)
        return ToolResult(text or "[no output]")

    def tool(self) -> Tool:
        """`run_python(code)` for the agent; failures (exceptions, limits) come back as error results.

        Running code is a side effect (it spends the machine's time, and in unsafe mode reaches everything the user
        can): the runtime asks the approval policy first."""
        description, parameters = run_python_declaration(self.mode, self.limits)

        async def run(arguments: dict) -> ToolResult:
            if set(arguments) != {"code"} or not isinstance(arguments["code"], str):
                return ToolResult('Error: invalid arguments for run_python: pass exactly {"code": "<program>"}', True)
            return await self.run(arguments["code"])

        return Tool("run_python", description, parameters, run, side_effect=True)


def run_python_declaration(mode: str, limits: SandboxLimits) -> tuple[str, dict]:
    """(description, parameters) of the run_python tool a sandbox in `mode` offers: what the model reads."""
    where = {"bwrap": "an isolated sandbox: no network, no files outside its working directory (which persists "
                      "between calls)",
             "landlock": "an isolated sandbox: no network, no files outside its working directory (which persists "
                         "between calls); file modes and times cannot be changed (use shutil.copyfile, not shutil.copy)",
             "unsafe": "a plain process WITHOUT isolation, in its own working directory"}[mode]
    description = (f"Run a Python 3 program and return what it prints (stdout and stderr together). It runs in {where}, "
                   f"for at most {limits.timeout_s:g} s and {limits.memory_mb} MB. Print what you want to see.")
    parameters = {"type": "object", "properties": {"code": {"type": "string", "description": "the complete program"}},
                  "required": ["code"], "additionalProperties": False}
    return description, parameters


def env_flags(workdir: str) -> list[str]:
    return [flag for key, value in scrubbed_env(workdir).items() for flag in ("--setenv", key, value)]


def scrubbed_env(workdir: str) -> dict[str, str]:
    # Nothing from the agent's environment: it may hold API keys.
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
            # One BLAS thread: per-thread buffers would eat the address-space limit on many-core machines.
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
