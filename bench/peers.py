"""openk2 vs llama.cpp: single-stream decode on bench/decode.py's checkpoint at BF16 / Q8_0 / Q4_0, same threads,
alternating rounds (optional: not in CI; the README's performance table comes from it).

    .venv/bin/python bench/peers.py [--llama-cpp DIR] [--threads N] [--rounds 3] [--tokens 64]

llama.cpp comes from --llama-cpp DIR or $LLAMA_CPP (a source tree), else from the llama-cpp-python sdist that pip
downloads (its vendor/llama.cpp is llama.cpp's source, GGUF converter included), unpacked under bench/.cache. The
tree is built once with cmake (native flags: llama-bench and llama-quantize; about 30 minutes on 2 busy cores).
The checkpoint is converted with the tree's convert_hf_to_gguf.py (BF16; no vocabulary: llama-bench decodes
token ids) and quantised to Q8_0 and Q4_0. Each round runs llama-bench (-p 0 -n TOKENS) and openk2's decode at
bf16 / int8 / int4, one after the other; the table shows medians and openk2/llama.cpp ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from decode import CACHE_DIR, build_checkpoint, openk2_decode  # noqa: E402

from openk2.checkpoint import load_model  # noqa: E402
from openk2.engine import EngineConfig, LLMEngine  # noqa: E402

PEERS = Path(__file__).parent / ".cache" / "peers"
PAIRS = (("bf16", "BF16"), ("int8", "Q8_0"), ("int4", "Q4_0"))
# The converter, without a vocabulary: the bench checkpoint's tokenizer is tiktoken's, which the converter's
# DeepSeek path would load through transformers' remote code; decode speed does not depend on it.
CONVERT = """
import sys
sys.path.insert(0, sys.argv[1] + "/gguf-py"); sys.path.insert(0, sys.argv[1])
sys.argv = [sys.argv[1] + "/convert_hf_to_gguf.py"] + sys.argv[2:]
import convert_hf_to_gguf as convert
try:  # newer trees split the converter into conversion/*.py, imported lazily: load DeepSeek's module first
    import conversion.deepseek
except ImportError:
    pass
modules = [m for m in list(sys.modules.values()) if m is convert or getattr(m, "__name__", "").startswith("conversion")]
for cls in [c for m in modules for c in list(vars(m).values())]:
    if isinstance(cls, type) and cls.__name__.startswith("Deepseek"):
        cls.set_vocab = lambda self: self._set_vocab_none()  # llama.cpp then makes vocab_size dummy tokens
convert.main()
"""


def find_llama_cpp(given: str | None) -> Path:
    if given or os.environ.get("LLAMA_CPP"):
        tree = Path(given or os.environ["LLAMA_CPP"])
        if not (tree / "convert_hf_to_gguf.py").is_file():
            raise SystemExit(f"--llama-cpp {tree}: not a llama.cpp source tree (no convert_hf_to_gguf.py)")
        return tree
    trees = sorted(PEERS.glob("llama_cpp_python-*/vendor/llama.cpp"))
    if trees:
        return trees[-1]
    PEERS.mkdir(parents=True, exist_ok=True)
    print("downloading the llama-cpp-python sdist (llama.cpp's source) with pip ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                    "llama-cpp-python", "-d", str(PEERS)], check=True)
    sdist = sorted(PEERS.glob("llama_cpp_python-*.tar.gz"))[-1]
    with tarfile.open(sdist) as tar:
        tar.extractall(PEERS, filter="data")
    return sorted(PEERS.glob("llama_cpp_python-*/vendor/llama.cpp"))[-1]


def build(tree: Path) -> Path:
    bin_dir = tree / "build" / "bin"
    if not (bin_dir / "llama-bench").is_file() or not (bin_dir / "llama-quantize").is_file():
        print(f"building llama-bench and llama-quantize in {tree}/build (native flags) ...", flush=True)
        subprocess.run(["cmake", "-B", "build", "-DGGML_NATIVE=ON", "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF",
                        "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_OPENSSL=OFF"],
                       cwd=tree, check=True, stdout=subprocess.DEVNULL)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count())  # 1 on a shared machine
        subprocess.run(["cmake", "--build", "build", "-j", jobs, "--target", "llama-bench",
                        "llama-quantize"], cwd=tree, check=True, stdout=subprocess.DEVNULL)
    return bin_dir


def gguf_files(tree: Path, bin_dir: Path) -> dict[str, Path]:
    out = PEERS / "gguf"
    out.mkdir(parents=True, exist_ok=True)
    files = {kind: out / f"bench-{kind}.gguf" for _, kind in PAIRS}
    if not files["BF16"].is_file():
        subprocess.run([sys.executable, "-c", CONVERT, str(tree), str(CACHE_DIR), "--outtype", "bf16",
                        "--outfile", str(files["BF16"])], check=True)
    for kind in ("Q8_0", "Q4_0"):
        if not files[kind].is_file():
            subprocess.run([str(bin_dir / "llama-quantize"), str(files["BF16"]), str(files[kind]), kind], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return files


def llama_bench(bin_dir: Path, gguf: Path, threads: int, tokens: int) -> float:
    result = subprocess.run([str(bin_dir / "llama-bench"), "-m", str(gguf), "-p", "0", "-n", str(tokens), "-t",
                             str(threads), "-r", "1", "-o", "json"], check=True, capture_output=True, text=True)
    return float(json.loads(result.stdout)[0]["avg_ts"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-cpp", help="a llama.cpp source tree (default: $LLAMA_CPP, else pip's sdist)")
    parser.add_argument("--threads", type=int, default=None, help="threads for both (default: physical cores)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64, help="decode tokens per measurement")
    args = parser.parse_args()
    from openk2.threads import physical_cores

    threads = args.threads or physical_cores()
    load_before = os.getloadavg()
    torch.set_num_threads(threads)
    build_checkpoint(CACHE_DIR)
    tree = find_llama_cpp(args.llama_cpp)
    bin_dir = build(tree)
    files = gguf_files(tree, bin_dir)
    prompt = list(range(100, 132))
    ours: dict[str, list[float]] = {q: [] for q, _ in PAIRS}
    theirs: dict[str, list[float]] = {k: [] for _, k in PAIRS}
    for quantize, kind in PAIRS:  # one engine at a time: the three together would hold 3 copies of the weights
        engine = LLMEngine(load_model(CACHE_DIR, dtype=torch.bfloat16), config=EngineConfig(
            cache_budget_bytes=64 * 1024**2, quantize=None if quantize == "bf16" else quantize,
            threads=threads))  # the same count as llama-bench's -t, not the load-following default
        openk2_decode(engine, prompt, 8)  # warm-up
        for _ in range(args.rounds):
            theirs[kind].append(llama_bench(bin_dir, files[kind], threads, args.tokens))
            ours[quantize].append(openk2_decode(engine, prompt, args.tokens))
        del engine
    print(f"single-stream decode, {threads} threads, median of {args.rounds} alternating rounds, "
          f"load average {load_before[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
          f"({os.cpu_count()} CPUs; llama.cpp at {tree})")
    print("| precision | openk2 tok/s | llama.cpp tok/s | openk2 / llama.cpp |")
    print("|---|---|---|---|")
    for quantize, kind in PAIRS:
        a, b = statistics.median(ours[quantize]), statistics.median(theirs[kind])
        print(f"| {quantize} vs {kind} | {a:.1f} | {b:.1f} | {a / b:.2f}x |")


if __name__ == "__main__":
    main()
