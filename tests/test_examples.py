"""The copy-ready examples under examples/ do what examples/README.md says, run as written.

The Slurm scripts run with `bash` (without Slurm, `#SBATCH` lines are comments; `submit.sh` gets a
fake `sbatch` that records its arguments and runs each job at once, honouring `afterok`), and the
GitHub Actions workflow's gate step runs its very `run:` commands, with the job's environment, on
a glob suite over copies of a tiny random checkpoint in a folder. The slow test does the same on
the tiny organism's checkpoints, written into a folder by `conceptpatch organism train --out`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from _tiny import distinct_copy, dump_toml, suite_data
from conceptpatch.cli import main

from conftest import TINY_WORDS, write_long_csv

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SLURM = EXAMPLES / "slurm"
WORKFLOW = EXAMPLES / "github-actions" / "conceptpatch-gate.yml"

#: A stand-in for Slurm's sbatch: records its arguments in $FAKE_SBATCH/<id>.args, runs the job
#: script with bash at once (output in <id>.out, exit status in <id>.status), and prints the id as
#: `--parsable` does, with a cluster name; a job whose `afterok` dependency did not exit 0 never
#: runs (its status is "never"), as Slurm leaves it pending with DependencyNeverSatisfied.
FAKE_SBATCH = r"""#!/usr/bin/env bash
set -u
log="$FAKE_SBATCH"
id=$((1000 + $(find "$log" -name '*.args' | wc -l)))
printf '%s\n' "$@" > "$log/$id.args"
after=""
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do
  case "$1" in --dependency=afterok:*) after="${1#--dependency=afterok:}" ;; esac
  shift
done
script="$1"; shift
if [ -n "$after" ] && [ "$(cat "$log/$after.status")" != 0 ]; then
  echo never > "$log/$id.status"
else
  status=0
  bash "$script" "$@" > "$log/$id.out" 2>&1 || status=$?
  echo "$status" > "$log/$id.status"
fi
echo "$id;testcluster"
"""


def _env(**extra: str) -> dict[str, str]:
    """This environment (the session's test cache) with this venv's `conceptpatch` on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    env.update(extra)
    return env


def _bash(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", *args], cwd=cwd, env=_env(**env), capture_output=True,
                          text=True, timeout=600)


def _gate_status(report: Path, inconclusive: str = "fail") -> int:
    """The exit status `conceptpatch claims` owes the verdicts in ``report`` (no expectations)."""
    records = json.loads((report / "verdicts.json").read_text(encoding="utf-8"))
    assert records and {r["claim_id"] for r in records} == {"regression"}
    ok = {"supported"} if inconclusive == "fail" else {"supported", "inconclusive"}
    return 0 if all(r["verdict"] in ok for r in records) else 1


def _glob_suite(folder: Path, pattern: str, step: str, **sections: Any) -> Path:
    """`_tiny.SUITE` over the checkpoint directories ``pattern``, with ``sections`` merged in."""
    data = suite_data(model={"glob": pattern, "step_pattern": step}, **sections)
    for key in ("random", "random_layers", "random_hidden"):
        data["model"].pop(key, None)
    path = folder / "suite.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, tiny_dirs: dict[str, Path]) -> dict:
    """A training run's folder of checkpoints iter_0000100..300 (distinct copies of the tiny
    llama), a glob suite over it (gate window 1), and a store holding iter_0000100's units."""
    root = tmp_path_factory.mktemp("run")
    ckpts = root / "ckpts"
    for step in (100, 200, 300):
        distinct_copy(tiny_dirs["llama"], ckpts / f"iter_{step:07d}", step)
    lexicon = write_long_csv(root / "lex.csv", TINY_WORDS)
    suite = _glob_suite(root, str(ckpts / "iter_*"), r"iter_(\d+)",
                        lexicon={"path": str(lexicon), "format": "long_csv"},
                        sample={"trials": 1}, patch={"layers": [1]}, claims={"gate_window": 1})
    data = suite.read_text(encoding="utf-8")
    suite.write_text(data.replace('builtin = "cldr"\n', ""), encoding="utf-8")
    store = root / "store"
    assert main(["run", str(suite), "--store", str(store), "--checkpoint", "iter_0000100",
                 "--quiet"]) == 0
    return {"suite": suite, "store": store, "ckpts": ckpts}


def _store_copy(history: dict, folder: Path) -> Path:
    return Path(shutil.copytree(history["store"], folder / "store"))


def test_compute_fills_the_store_and_the_gate_exits_with_the_gates_status(history, tmp_path):
    store = _store_copy(history, tmp_path)
    report = tmp_path / "report"
    gate = [str(SLURM / "gate.sbatch"), str(history["suite"]), "iter_0000200", str(store),
            str(report)]
    # before the compute job: units missing from the store, status 2 with the command to run
    early = _bash(gate, tmp_path)
    assert early.returncode == 2, early.stderr
    assert "conceptpatch run" in early.stderr and "exit status 2" in early.stdout
    # the GPU job, configured from the environment as a submitting shell would
    compute = _bash([str(SLURM / "compute.sbatch")], tmp_path, SUITE=str(history["suite"]),
                    CKPT="iter_0000200", STORE=str(store))
    assert compute.returncode == 0, compute.stderr
    assert (store / "iter_0000200").is_dir()
    # the CPU job: the gate's own exit status (0 or 1), its verdicts beside the report
    decided = _bash(gate, tmp_path)
    assert decided.returncode in (0, 1), decided.stderr
    assert decided.returncode == _gate_status(report)
    assert (report / "index.html").is_file()
    assert f"exit status {decided.returncode}" in decided.stdout


def _units(store: Path) -> set[str]:
    """The units (checkpoint/setting) in ``store``."""
    return {p.relative_to(store).with_suffix("").as_posix() for p in store.rglob("*.parquet")}


def test_an_array_task_computes_its_share_of_the_whole_suite(history, tmp_path):
    """Without CKPT, a job array's tasks split the suite's units (`--shard i/n`)."""
    store = _store_copy(history, tmp_path)
    before = _units(store)
    task = _bash([str(SLURM / "compute.sbatch")], tmp_path, SUITE=str(history["suite"]),
                 STORE=str(store), CKPT="", SLURM_ARRAY_TASK_ID="3", SLURM_ARRAY_TASK_MIN="2",
                 SLURM_ARRAY_TASK_COUNT="2")  # --array=2-3: its second task
    assert task.returncode == 0, task.stderr
    assert "--shard 1/2" in task.stdout and "--checkpoint" not in task.stdout
    share = _units(store) - before
    assert share
    # the other task's share completes the suite: 3 checkpoints x (seen, unpatched)
    assert main(["run", str(history["suite"]), "--store", str(store), "--shard", "0/2",
                 "--quiet"]) == 0
    assert _units(store) - before - share
    assert _units(store) == {f"iter_{step:07d}/{setting}" for step in (100, 200, 300)
                             for setting in ("seen", "unpatched")}


def test_the_scripts_refuse_to_run_without_a_checkpoint(tmp_path):
    for script in ("gate.sbatch", "submit.sh"):
        out = _bash([str(SLURM / script)], tmp_path, CKPT="")
        assert out.returncode == 2 and "CKPT" in out.stderr, (script, out.stderr)


def test_submit_chains_the_gate_after_the_compute_job(history, tmp_path):
    bin_dir, jobs = tmp_path / "bin", tmp_path / "jobs"
    bin_dir.mkdir()
    jobs.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH, encoding="utf-8")
    (bin_dir / "sbatch").chmod(0o755)
    _store_copy(history, tmp_path)
    shutil.copy(history["suite"], tmp_path / "mine.toml")
    path = os.pathsep.join([str(bin_dir), _env()["PATH"]])
    # relative paths, from the directory sbatch is called in, as Slurm runs the jobs there
    out = _bash([str(SLURM / "submit.sh"), "mine.toml", "iter_0000200", "store", "report"],
                tmp_path, PATH=path, FAKE_SBATCH=str(jobs))
    assert out.returncode == 0, out.stderr
    assert "compute job 1000; gate job 1001" in out.stdout
    compute_args = (jobs / "1000.args").read_text().splitlines()
    gate_args = (jobs / "1001.args").read_text().splitlines()
    assert compute_args == ["--parsable", str(SLURM / "compute.sbatch"), "mine.toml",
                            "iter_0000200", "store"]
    assert gate_args == ["--parsable", "--dependency=afterok:1000", str(SLURM / "gate.sbatch"),
                         "mine.toml", "iter_0000200", "store", "report"]
    assert (jobs / "1000.status").read_text().strip() == "0", (jobs / "1000.out").read_text()
    status = int((jobs / "1001.status").read_text())
    assert status == _gate_status(tmp_path / "report"), (jobs / "1001.out").read_text()
    # a compute job that fails (no such checkpoint) never lets its gate run
    out = _bash([str(SLURM / "submit.sh"), "mine.toml", "iter_9999999", "store", "report2"],
                tmp_path, PATH=path, FAKE_SBATCH=str(jobs))
    assert out.returncode == 0, out.stderr
    assert (jobs / "1002.status").read_text().strip() not in ("0", "never")
    assert (jobs / "1003.status").read_text().strip() == "never"
    assert not (tmp_path / "report2").exists()


def _workflow() -> dict[str, Any]:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as true
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def _step(steps: list[dict[str, Any]], name: str) -> tuple[int, dict[str, Any]]:
    found = [(i, s) for i, s in enumerate(steps) if s.get("name") == name]
    assert len(found) == 1, [s.get("name") for s in steps]
    return found[0]


def _uses(steps: list[dict[str, Any]], action: str) -> list[int]:
    return [i for i, s in enumerate(steps) if s.get("uses", "").split("@")[0] == action]


def test_the_workflow_is_a_cpu_gate_job_whose_status_is_the_gates():
    doc = _workflow()
    for trigger in ("workflow_call", "workflow_dispatch"):
        inputs = doc["on"][trigger]["inputs"]
        assert inputs["checkpoint"]["required"] is True
        assert {"suite", "store_artifact", "store_run_id", "inconclusive"} <= set(inputs)
    assert doc["permissions"]["actions"] == "read"
    job = doc["jobs"]["gate"]
    assert job["runs-on"] == "ubuntu-latest"
    steps = job["steps"]
    assert _uses(steps, "actions/checkout") and _uses(steps, "actions/setup-python")
    _, install = _step(steps, "Install torch (CPU build) and conceptpatch")
    run = install["run"]
    assert "torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu" in run
    assert run.index("torch==2.13.0") < run.index("pip wheel --no-deps")
    assert "conceptpatch-*.whl" in run
    download = _uses(steps, "actions/download-artifact")
    gate_at, gate = _step(steps, "Gate")
    upload = _uses(steps, "actions/upload-artifact")
    assert len(download) == 1 and len(upload) == 1 and download[0] < gate_at < upload[0]
    assert steps[download[0]]["with"]["path"] == "${{ env.STORE }}"
    assert steps[upload[0]]["with"]["path"] == "${{ env.REPORT }}"
    assert steps[upload[0]]["if"] == "always()"  # the report also of a failed gate
    # the job's status is the gate step's: nothing swallows its exit status
    assert not any(s.get("continue-on-error") for s in steps) and "continue-on-error" not in job
    assert gate.get("shell") == "bash" and "if" not in gate
    assert "--no-compute" in gate["run"] and '--new-checkpoint "$NEW_CHECKPOINT"' in gate["run"]
    assert "${{" not in gate["run"]  # inputs reach the shell as environment variables only
    assert set(job["env"]) == {"SUITE", "STORE", "NEW_CHECKPOINT", "INCONCLUSIVE", "REPORT"}


def _job_env(job: dict[str, Any], inputs: dict[str, str]) -> dict[str, str]:
    """The job's `env:` with `${{ inputs.NAME }}` replaced as GitHub does."""
    def sub(value: str) -> str:
        out = re.sub(r"\$\{\{\s*inputs\.(\w+)\s*\}\}", lambda m: inputs[m.group(1)], value)
        assert "${{" not in out, value
        return out
    return {key: sub(str(value)) for key, value in job["env"].items()}


def test_the_workflows_gate_step_decides_from_the_store_alone(history, tmp_path):
    doc = _workflow()
    job = doc["jobs"]["gate"]
    workspace = tmp_path / "workspace"
    (workspace / "conceptpatch").mkdir(parents=True)
    shutil.copy(history["suite"], workspace / "conceptpatch" / "mine.toml")
    inputs = {name: str(spec.get("default", "")) for name, spec in
              doc["on"]["workflow_dispatch"]["inputs"].items()}
    inputs["checkpoint"] = "iter_0000200"
    env = _job_env(job, inputs)
    assert env["SUITE"] == "conceptpatch/mine.toml" and env["INCONCLUSIVE"] == "fail"
    # the GPU side computed the new checkpoint; the download step lays the artifact at $STORE
    store = _store_copy(history, tmp_path)
    assert main(["run", str(history["suite"]), "--store", str(store), "--checkpoint",
                 "iter_0000200", "--quiet"]) == 0
    shutil.copytree(store, workspace / env["STORE"])
    _, gate = _step(job["steps"], "Gate")
    # GitHub runs `shell: bash` as `bash --noprofile --norc -eo pipefail {0}`
    script = tmp_path / "gate.sh"
    script.write_text(gate["run"], encoding="utf-8")
    for inconclusive in ("fail", "pass"):  # the input's two choices
        env["INCONCLUSIVE"] = inconclusive
        out = _bash(["--noprofile", "--norc", "-eo", "pipefail", str(script)], workspace, **env)
        assert out.returncode in (0, 1), out.stdout[-3000:] + out.stderr
        report = workspace / env["REPORT"]
        assert out.returncode == _gate_status(report, inconclusive)
        assert (report / "index.html").is_file()


@pytest.mark.slow
def test_the_slurm_pair_gates_organism_checkpoints_in_a_folder(tmp_path):
    """The tiny organism's checkpoints, written into a folder as a training run writes them, a
    glob suite over them, the history computed, then submit.sh for the newest checkpoint."""
    out_dir = tmp_path / "organism"
    train = _bash(["-c", 'exec conceptpatch organism train --variant tiny --out "$1"', "-",
                   str(out_dir)], tmp_path)
    assert train.returncode == 0, train.stderr
    names = sorted(p.name for p in (out_dir / "checkpoints").iterdir())
    assert len(names) >= 3, names
    suite = _glob_suite(tmp_path, "organism/checkpoints/step_*", r"step_(\d+)",
                        lexicon={"path": "organism/lexicon.csv", "format": "long_csv"},
                        languages={"seen": ["en", "qaa", "qab"]},
                        patch={"layers": "all", "settings": ["tgt", "en_en", "unpatched"],
                               "max_new_tokens": 4},
                        sample={"trials": 4})
    suite.write_text(suite.read_text(encoding="utf-8").replace('builtin = "cldr"\n', ""),
                     encoding="utf-8")
    *earlier, new = names
    store = tmp_path / "store"
    for name in earlier[-2:]:  # the gate's window (2): what earlier compute jobs left
        assert main(["run", str(suite), "--store", str(store), "--checkpoint", name,
                     "--quiet"]) == 0
    bin_dir, jobs = tmp_path / "bin", tmp_path / "jobs"
    bin_dir.mkdir()
    jobs.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH, encoding="utf-8")
    (bin_dir / "sbatch").chmod(0o755)
    path = os.pathsep.join([str(bin_dir), _env()["PATH"]])
    out = _bash([str(SLURM / "submit.sh")], tmp_path, PATH=path, FAKE_SBATCH=str(jobs),
                SUITE="suite.toml", CKPT=new, STORE="store", REPORT="report")
    assert out.returncode == 0, out.stderr
    assert (jobs / "1000.status").read_text().strip() == "0", (jobs / "1000.out").read_text()
    assert (store / new).is_dir()
    status = int((jobs / "1001.status").read_text())
    assert status == _gate_status(tmp_path / "report"), (jobs / "1001.out").read_text()
    records = json.loads((tmp_path / "report" / "verdicts.json").read_text(encoding="utf-8"))
    assert all(r["evidence"].get("new") in (None, new) for r in records)
