"""Run the `paper_mini` preset end to end in a scratch copy of the repository, on the miniature inputs.

    python tests/paper_mini/run.py /tmp/paper_mini            # build, serve, run `snakemake --cores 1 all`
    python tests/paper_mini/run.py /tmp/paper_mini --target data   # any targets

What it sets up (:func:`prepare`): the scratch project (``<dest>/project``, the files a clone has), the miniatures
(``<dest>/mirror``, ``<dest>/registry_override.json``), the PRImA folder unpacked by hand as the registry asks
(``<project>/data/raw/prima``) and the hub cache (``<dest>/hf``). Then (:func:`run_snakemake`) it serves the mirror
on loopback and runs Snakemake with ``DISTILDOC_MIRROR``, ``DISTILDOC_REGISTRY_OVERRIDE``, ``HF_HOME`` and
``HF_HUB_OFFLINE=1`` set, so every download, conversion and ``from_pretrained(hub id)`` of the paper code runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: test_pipeline's project copy, this package

from paper_mini.hub import build_hub_cache  # noqa: E402
from paper_mini.miniatures import build_mirror, build_prima  # noqa: E402
from paper_mini.server import serve_folder  # noqa: E402

PRESET = "paper_mini"
BIN = Path(sys.executable).parent


def prepare(dest: Path, hub: bool = True) -> dict[str, Path]:
    """Scratch project + miniatures + PRImA folder + hub cache (unless not `hub`: downloads only) under `dest`;
    returns their paths."""
    from distildoc.config import load_config
    from test_pipeline import _copy_project

    dest.mkdir(parents=True, exist_ok=True)
    project = dest / "project"
    if not (project / "Snakefile").is_file():
        _copy_project(project)
    mirror, override = dest / "mirror", dest / "registry_override.json"
    if not override.is_file():  # a kept folder keeps its miniatures (and the downloads made from them)
        mirror, override = build_mirror(dest)
    prima = project / "data" / "raw" / "prima"
    if not prima.is_dir():
        build_prima(prima)
    hf_home = dest / "hf"
    if hub:
        build_hub_cache(hf_home, load_config(project / "params.yaml", PRESET))
    return {"project": project, "mirror": mirror, "override": override, "hf_home": hf_home}


def mini_env(paths: dict[str, Path], mirror_url: str) -> dict[str, str]:
    """The environment of the run: the mirror, its checksums, the offline hub cache, the venv's PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DISTILDOC_MIRROR": mirror_url,
        "DISTILDOC_REGISTRY_OVERRIDE": str(paths["override"]),
        "HF_HOME": str(paths["hf_home"]),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        # the SmolLM2 GGUF conversion cache and any other distildoc cache stay inside the scratch folder
        "DISTILDOC_CACHE_DIR": str(paths["hf_home"].parent / "cache"),
    })
    return env


def run_snakemake(paths: dict[str, Path], args: list[str], timeout: float = 3600,
                  mirror: Path | None = None) -> subprocess.CompletedProcess:
    """``snakemake <args> --config preset=paper_mini`` in the project while the mirror is served."""
    with serve_folder(mirror or paths["mirror"]) as url:
        return subprocess.run([str(BIN / "snakemake"), *args, "--config", f"preset={PRESET}"], cwd=paths["project"],
                              env=mini_env(paths, url), capture_output=True, text=True, timeout=timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--target", nargs="*", default=["all"])
    parser.add_argument("--cores", default="1")
    args = parser.parse_args(argv)
    t0 = time.time()
    paths = prepare(args.dest.resolve())
    print(f"prepared in {time.time() - t0:.0f} s: {paths}", flush=True)
    t1 = time.time()
    res = run_snakemake(paths, ["--cores", args.cores, "--keep-going", *args.target])
    (args.dest / "snakemake.log").write_text(res.stdout + res.stderr)
    print((res.stdout + res.stderr)[-6000:])
    print(f"snakemake exit {res.returncode} after {time.time() - t1:.0f} s (total {time.time() - t0:.0f} s)")
    return res.returncode


if __name__ == "__main__":
    sys.exit(main())
