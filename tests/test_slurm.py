"""The SLURM profile on a real single-node SLURM cluster (Debian's slurm-wlm + munge, started on loopback
by .ci/slurm/start.sh): a slice of the smoke DAG (the data stage, one teacher and its students) runs
through snakemake-executor-plugin-slurm; every job must go through `sbatch` and the outputs must equal
those of a local run of the same targets, byte for byte (JSON files compared without their timing
fields, torch archives without the temporary file name torch records in them, safetensors files with
their header parsed, as its metadata's key order varies between processes). Both runs use one
snapshot of the project, library included. The cluster is stopped in a finalizer; no daemon outlives
the test. The wall times of both runs are printed (`pytest -s`).

The profile is sized for the paper preset on a GPU cluster (8 threads, 64 GB for training jobs); on this
2-core node the test uses it with the threads set to 1 (what the rules declare, and what the local run
uses: the scripts pin torch to the rule's threads, and a different thread count changes float sums) and
memory capped to what the node has, every other key as it is."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from test_pipeline import BIN, REPO, _copy_project

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

START = REPO / ".ci" / "slurm" / "start.sh"
STOP = REPO / ".ci" / "slurm" / "stop.sh"
PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
# the data stage, the R101 teacher on the RVL-CDIP-like split and its R50 students (7 methods + CE)
TARGETS = [
    "data",
    "results/smoke/dic/runs/rvl/R101__R50__random__s0",
    "results/smoke/dic/runs/rvl/none__R50__random__s0",
]
SLURM_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "scancel")
# wall-clock measurements recorded in the outputs; everything else must match exactly
TIMING_KEYS = {"train_seconds", "examples_per_second", "seconds", "elapsed", "elapsed_seconds", "wall_seconds", "time_s"}
# files that hold only wall-clock measurements: the training curves' elapsed-time column (DVCLive)
TIMING_FILES = ("/dvclive/plots/metrics/time_s.tsv",)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pids(cluster_dir: Path) -> dict[str, int]:
    out = {}
    for f in (cluster_dir / "run").glob("*.pid"):
        try:
            out[f.stem] = int(f.read_text().strip())
        except (OSError, ValueError):
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory) -> dict[str, str]:
    """A running single-node cluster; yields the environment that reaches it (SLURM_CONF)."""
    missing = [b for b in SLURM_BINARIES if shutil.which(b) is None]
    if missing:
        pytest.fail(
            f"SLURM test: {', '.join(missing)} not found. Install the Debian packages slurm-wlm and munge "
            "(`make setup` does: apt-get install -y slurm-wlm munge)",
            pytrace=False,
        )
    cluster_dir = tmp_path_factory.mktemp("slurm")
    env = {
        **os.environ,
        "DISTILDOC_SLURM_DIR": str(cluster_dir),
        "SLURM_CI_CTLD_PORT": str(_free_port()),
        "SLURM_CI_SLURMD_PORT": str(_free_port()),
    }
    try:
        started = subprocess.run(["bash", str(START)], env=env, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, f"start.sh failed:\n{started.stdout}\n{started.stderr}"
        print(started.stdout.strip())
        # as env.sh: SLURM_CONF, and the srun wrapper that restores it inside jobs (see start.sh)
        path = os.pathsep.join([str(BIN), str(cluster_dir / "bin"), env.get("PATH", "")])
        yield {**env, "SLURM_CONF": str(cluster_dir / "etc" / "slurm.conf"), "PATH": path}
    finally:
        pids = _pids(cluster_dir)
        stopped = subprocess.run(["bash", str(STOP)], env=env, capture_output=True, text=True, timeout=120)
        left = {name: pid for name, pid in pids.items() if _alive(pid)}
        assert stopped.returncode == 0 and not left, f"stop.sh left {left}:\n{stopped.stdout}{stopped.stderr}"


def _node_profile(dest: Path) -> Path:
    """The SLURM profile as it is, but for this 2-core node: 1 thread and 1 CPU per job, memory capped."""
    prof = yaml.safe_load(PROFILE.read_text())
    assert prof["executor"] == "slurm"
    prof["set-threads"] = {rule: 1 for rule in prof.get("set-threads", {})}
    for res in [prof["default-resources"], *prof.get("set-resources", {}).values()]:
        if "mem_mb" in res:
            res["mem_mb"] = min(int(res["mem_mb"]), 1500)
        if "cpus_per_task" in res:
            res["cpus_per_task"] = 1
    # short jobs: poll every few seconds instead of the cluster-friendly 20 s
    prof["slurm-init-seconds-before-status-checks"] = 3
    prof["seconds-between-status-checks"] = 3
    prof["slurm-keep-successful-logs"] = True
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(prof, sort_keys=False))
    return dest


def _job_stats(log: str) -> dict[str, int]:
    """Rule -> number of jobs, from the `Job stats` table Snakemake prints before running."""
    table = log.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = dict(re.findall(r"^(\w+)\s+(\d+)$", table, re.M))
    assert "total" in rows, table
    return {rule: int(n) for rule, n in rows.items()}


def _normalise(obj):
    if isinstance(obj, dict):
        return {k: _normalise(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [_normalise(v) for v in obj]
    return obj


def _torch_archive(path: Path) -> dict[str, bytes] | None:
    """The records of a torch.save zip archive, without the archive's top folder: torch names that
    folder after the file written, and atomic writes save to a randomly named temporary file first."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as z:
        return {name.split("/", 1)[-1]: z.read(name) for name in z.namelist()}


def _safetensors(path: Path) -> tuple[dict, bytes]:
    """(header, payload) of a safetensors file: the header is a JSON object whose `__metadata__` map the
    Rust writer serialises in per-process hash order, so equal files can differ in its key order."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _outputs(project: Path) -> dict[str, Path]:
    files = {}
    for top in ("results/smoke", "data/smoke"):
        for p in sorted((project / top).rglob("*")):
            if p.is_file():
                files[str(p.relative_to(project))] = p
    return files


def test_smoke_slice_through_slurm_equals_local_run(tmp_path: Path, slurm_cluster: dict[str, str]) -> None:
    # two copies of one snapshot of the project; each run imports the library from its own copy (not
    # the editable install), so that both run the same code even while the working tree changes
    local = _copy_project(tmp_path / "local")
    project = tmp_path / "slurm"
    shutil.copytree(local, project)
    profile = _node_profile(tmp_path / "slurm-node-profile")

    def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
        env = {**env, "PYTHONPATH": os.pathsep.join([str(cwd / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        t0 = time.monotonic()
        res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
        return res, time.monotonic() - t0

    # the reference: the same targets run locally
    local_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    res, local_wall = run([str(BIN / "snakemake"), "--cores", "2", *TARGETS, "--config", "preset=smoke"], local, local_env)
    assert res.returncode == 0, res.stderr[-4000:]

    cmd = [str(BIN / "snakemake"), "--workflow-profile", str(profile), *TARGETS, "--config", "preset=smoke"]
    res, slurm_wall = run(cmd, project, slurm_cluster)
    log = res.stdout + res.stderr
    (tmp_path / "snakemake_slurm.log").write_text(log)
    assert res.returncode == 0, log[-6000:]
    print(f"\nSLURM smoke slice: {slurm_wall:.1f} s wall; local (--cores 2): {local_wall:.1f} s wall")

    # (a) every job went through sbatch, once: the plugin's submission lines (their SLURM log paths name
    # the rule) match the DAG's job counts, less the jobs Snakemake runs itself (`localrule`: the
    # aggregate target rule `data`, which has nothing to run); and slurmctld saw each job exit 0
    stats = _job_stats(log)
    local_rules = set(re.findall(r"^localrule (\w+):", log, re.M))
    assert local_rules <= {"data"}, local_rules
    expected = {rule: n for rule, n in stats.items() if rule != "total" and rule not in local_rules}
    submissions = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: .*?/rule_(\w+)/", log)
    submitted = {int(job): int(slurm_id) for job, slurm_id, _ in submissions}
    assert len(submitted) == len(submissions) == sum(expected.values()), (submissions, stats)
    per_rule: dict[str, int] = {}
    for _, _, rule in submissions:
        per_rule[rule] = per_rule.get(rule, 0) + 1
    assert per_rule == expected, (per_rule, expected)
    ctld_log = (Path(slurm_cluster["DISTILDOC_SLURM_DIR"]) / "log" / "slurmctld.log").read_text()
    in_ctld = {int(j) for j in re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", ctld_log)}
    completed = {int(j) for j in re.findall(r"_job_complete: JobId=(\d+) WEXITSTATUS 0", ctld_log)}
    assert set(submitted.values()) == in_ctld == completed, (submitted, in_ctld, completed)
    print(f"{len(submitted)} jobs submitted with sbatch: " + ", ".join(f"{r} x{n}" for r, n in sorted(per_rule.items())))

    # (b) the same outputs as the local run
    ours, theirs = _outputs(project), _outputs(local)
    assert set(ours) == set(theirs), set(ours) ^ set(theirs)
    assert any(k.endswith("R101__R50__random__s0/simkd_cnn/metrics.json") for k in ours)
    different = []
    for rel, path in ours.items():
        a, b = path.read_bytes(), theirs[rel].read_bytes()
        if a == b or rel.endswith(TIMING_FILES):
            continue
        if rel.endswith(".json") and _normalise(json.loads(a)) == _normalise(json.loads(b)):
            continue
        if rel.endswith(".pt") and _torch_archive(path) == _torch_archive(theirs[rel]) is not None:
            continue
        if rel.endswith(".safetensors") and _safetensors(path) == _safetensors(theirs[rel]):
            continue
        different.append(rel)
    assert not different, f"outputs that differ from the local run: {different}"
