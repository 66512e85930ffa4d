"""`openk2 eval bfcl` with bfcl-eval's data and checker: an oracle answering with the ground truth scores 100% in every
default category, one wrong argument is caught, and a random-weight model through `openk2 serve` scores about 0."""

from __future__ import annotations

import json

from eval_oracles import bfcl_oracle, require_extra
from scripted_endpoint import ScriptedEndpoint
from typer.testing import CliRunner

from openk2.cli import app

require_extra("bfcl_eval")

runner = CliRunner()
DEFAULT = ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance", "live_simple"]


def test_ground_truth_oracle_scores_100_percent_and_one_wrong_argument_fails(tmp_path):
    from openk2.evals.bfcl import load

    entries = load(DEFAULT, 40)
    with ScriptedEndpoint(bfcl_oracle(entries)) as oracle:
        result = runner.invoke(app, ["eval", "bfcl", "--base-url", oracle.base_url, "--model", "oracle", "--limit", "40",
                                     "--out", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.stderr
    summary = json.loads((tmp_path / "ok" / "report.json").read_text())["summary"]
    assert summary["entries"] == 240 and summary["overall_accuracy"] == 1.0
    assert {c: s["accuracy"] for c, s in summary["categories"].items()} == dict.fromkeys(DEFAULT, 1.0)
    assert result.stdout.startswith("# openk2 eval bfcl · oracle\n\nReproduce:\n\n```bash\nopenk2 eval bfcl --base-url")

    with ScriptedEndpoint(bfcl_oracle(entries, broken="simple_python_0")) as broken:
        result = runner.invoke(app, ["eval", "bfcl", "--base-url", broken.base_url, "--model", "oracle", "--limit", "40",
                                     "--categories", "simple", "--out", str(tmp_path / "bad")])
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "bad" / "results.jsonl").read_text().splitlines()[1:]]
    wrong = [r for r in records if not r["valid"]]
    assert [r["key"] for r in wrong] == ["simple_python_0"] and wrong[0]["error_type"] == "value_error:others"


def test_bad_categories_are_one_line(tmp_path):
    result = runner.invoke(app, ["eval", "bfcl", "--model", "m", "--categories", "simple,nope", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "unknown BFCL category 'nope'" in result.stderr
