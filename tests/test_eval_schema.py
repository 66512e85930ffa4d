"""`openk2 eval schema` (the K2 Vendor Verifier's measure) and the runner every eval shares: oracle endpoints score
100%, a broken one does not, results are appended per request and a rerun (also after kill -9) resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eval_oracles import schema_oracle
from scripted_endpoint import ScriptedEndpoint, calls
from typer.testing import CliRunner

from openk2.cli import app
from openk2.evals.metrics import pass_hat_k
from openk2.evals.schema import DEFAULT_REQUESTS, check_call

runner = CliRunner()


def run_eval(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["eval", *args])
    return result.exit_code, result.stdout, result.stderr


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_oracle_scores_100_percent_and_a_broken_oracle_does_not(tmp_path):
    with ScriptedEndpoint(schema_oracle()) as oracle:
        code, stdout, stderr = run_eval("schema", "--base-url", oracle.base_url, "--model", "oracle", "--out", str(tmp_path / "ok"))
    assert code == 0, stderr
    summary = report(tmp_path / "ok")["summary"]
    assert summary["requests"] == 64 == summary["count_finish_reason_tool_calls"] == summary["count_successful_tool_call"]
    assert summary["schema_accuracy"] == 1.0 and summary["failed"] == 0
    assert stdout.startswith("# openk2 eval schema · oracle\n\nReproduce:\n\n```bash\nopenk2 eval schema --base-url ")
    assert "| schema_accuracy | 100.00% |" in stdout
    assert {p.name for p in (tmp_path / "ok").iterdir()} >= {"results.jsonl", "report.json", "report.md", "report.png",
                                                              "verifier_results.jsonl"}
    assert (tmp_path / "ok" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    verifier = [json.loads(line) for line in (tmp_path / "ok" / "verifier_results.jsonl").read_text().splitlines()]
    assert [r["data_index"] for r in verifier] == list(range(1, 65)) and all(r["tool_calls_valid"] for r in verifier)

    with ScriptedEndpoint(schema_oracle(broken=True)) as broken:
        code, stdout, _ = run_eval("schema", "--base-url", broken.base_url, "--model", "oracle", "--out", str(tmp_path / "bad"))
    summary = report(tmp_path / "bad")["summary"]
    assert code == 0 and summary["count_successful_tool_call"] == 63 and summary["schema_accuracy"] == 63 / 64
    assert "Additional properties are not allowed ('not_declared' was unexpected)" in stdout


def test_check_call_follows_the_verifier():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}, "required": ["n"]}}}]
    call = lambda name, arguments: {"function": {"name": name, "arguments": arguments}}  # noqa: E731
    assert check_call(call("f", '{"n": 2}'), tools) is None
    assert check_call(call("f", {"n": 2}), tools) is None  # already parsed arguments are fine
    assert check_call(call("g", "{}"), tools) == "unknown tool 'g'"
    assert "not JSON" in check_call(call("f", "{n: 2"), tools)
    assert check_call(call("f", '{"n": 9}'), tools) == "f: n: 9 is greater than the maximum of 3"
    assert "without function" in check_call({"id": "x"}, tools)


def test_rerun_resumes_and_the_reproduce_command_reruns_it(tmp_path):
    out = tmp_path / "run"
    with ScriptedEndpoint(schema_oracle()) as oracle:
        assert run_eval("schema", "--base-url", oracle.base_url, "--limit", "10", "--out", str(out),
                        "--model", "m")[0] == 0
        assert len(oracle.requests) == 10
        code, stdout, stderr = run_eval("schema", "--base-url", oracle.base_url, "--limit", "16", "--out", str(out),
                                        "--model", "m")
        assert code == 0 and len(oracle.requests) == 16  # only the 6 new ones were sent
        assert "10 trials already finished" in stderr and report(out)["summary"]["requests"] == 16
        command = report(out)["command"]
        assert command == (f"openk2 eval schema --base-url {oracle.base_url} --model m --limit 16 --concurrency 8 "
                           f"--out {out} --timeout 600.0 --retries 3")
        assert run_eval(*command.split()[2:])[0] == 0 and len(oracle.requests) == 16  # all done: nothing sent
        # Another model's results are never mixed into this run.
        code, _, stderr = run_eval("schema", "--base-url", oracle.base_url, "--model", "other", "--out", str(out))
        assert code == 1 and "holds a different run (model: 'm' there, 'other' now)" in stderr
        assert run_eval("schema", "--base-url", oracle.base_url, "--model", "other", "--out", str(out), "--fresh",
                        "--limit", "2")[0] == 0
        assert report(out)["summary"]["requests"] == 2


def test_killed_run_resumes_where_it_stopped(tmp_path):
    """kill -9 mid-run: every finished request is on disk, a half-written line is dropped, the rerun sends only
    what is missing and the final report counts each request once."""
    script, delay = schema_oracle(), [0.05]
    slow = lambda request: {**script(request), "delay": delay[0]}  # noqa: E731 -- streamed chunk by chunk, slowly
    out = tmp_path / "run"
    with ScriptedEndpoint(slow) as oracle:
        command = [sys.executable, "-m", "openk2.evals.cli", "schema", "--base-url", oracle.base_url, "--model", "m",
                   "--out", str(out), "--stream", "--concurrency", "4"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results = out / "results.jsonl"
        deadline = time.monotonic() + 300  # a loaded machine starts Python slowly
        while not (results.exists() and len(results.read_text().splitlines()) > 4):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        with results.open("a") as f:
            f.write('{"key": "64", "half a li')  # as if killed mid-write
        kept = len(results.read_text().splitlines()) - 2  # header and the torn line
        delay[0] = 0
        sent_before = len(oracle.requests)
        code, _, stderr = run_eval("schema", "--base-url", oracle.base_url, "--model", "m", "--out", str(out), "--stream")
        assert code == 0, stderr
        assert len(oracle.requests) - sent_before == 64 - kept
    summary = report(out)["summary"]
    assert summary["requests"] == 64 and summary["count_successful_tool_call"] == 64


def test_unreachable_endpoint_is_one_line(tmp_path):
    code, _, stderr = run_eval("schema", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--out",
                               str(tmp_path / "x"), "--retries", "0")
    assert code == 1 and stderr.strip().splitlines()[-1].startswith("error: the first 3 trials failed: APIConnectionError")
    code, _, stderr = run_eval("schema", "--base-url", "http://127.0.0.1:9/v1", "--retries", "0", "--out", str(tmp_path))
    assert code == 1 and "cannot list models" in stderr and "Pass --model" in stderr
    for args, message in [(["--base-url", "localhost:8000"], "is not an http(s) URL"),
                          (["--limit", "0"], "--limit must be at least 1"),
                          (["--extra-body", "[1]"], "--extra-body must be a JSON object"),
                          (["--requests", str(tmp_path / "none.jsonl")], "cannot read --requests")]:
        code, _, stderr = run_eval("schema", "--model", "m", *args)
        assert code == 1 and message in stderr, stderr


def test_a_refused_request_counts_as_failed_not_as_pending(tmp_path):
    """A 4xx is the endpoint's verdict on this request: recorded as failed (the verifier's count), not retried."""
    def script(request):
        if request["messages"][-1].get("content", "").startswith("What"):
            return None  # the scripted endpoint answers 400
        return calls((request["tools"][0]["function"]["name"], {}))

    with ScriptedEndpoint(script) as endpoint:
        code, _, stderr = run_eval("schema", "--base-url", endpoint.base_url, "--model", "m", "--out", str(tmp_path))
    summary = report(tmp_path)["summary"]
    assert code == 0, stderr
    assert summary["failed"] > 0 and summary["requests"] == 64


def test_pass_hat_k_is_taus_estimator():
    outcomes = [("a", True)] * 4 + [("b", True), ("b", False), ("b", True), ("b", False)] + [("c", False)] * 4
    assert pass_hat_k(outcomes, 1) == pytest.approx((1 + 0.5 + 0) / 3)
    assert pass_hat_k(outcomes, 2) == pytest.approx((1 + 1 / 6 + 0) / 3)  # C(2,2)/C(4,2) for b
    assert pass_hat_k(outcomes, 4) == pytest.approx(1 / 3)
    assert pass_hat_k(outcomes, 5) is None


def test_default_requests_are_packaged():
    assert DEFAULT_REQUESTS.is_file() and len(DEFAULT_REQUESTS.read_text().splitlines()) == 64
