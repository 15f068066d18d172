"""Set-up shared by every workflow script: logging to the rule's log file, threads, device."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("distildoc")


def setup_logging(log_path: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Log to stderr and, when given, to `log_path` (the rule's `log:` file)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers, force=True)
    if log_path:
        _log_uncaught_exceptions()


def _log_uncaught_exceptions() -> None:
    """An exception that ends a rule's script goes into the rule's log file too (Snakemake's error message sends
    the user there), then to the previous hook (stderr)."""
    previous = sys.excepthook
    if getattr(previous, "_distildoc", False):
        return

    def hook(exc_type, exc, tb) -> None:  # noqa: ANN001 - sys.excepthook's signature
        if not issubclass(exc_type, KeyboardInterrupt):
            log.error("%s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))
            logging.shutdown()  # flush the file handler
            return  # the handler on stderr printed it already
        previous(exc_type, exc, tb)

    hook._distildoc = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def setup_threads(threads: int) -> None:
    """Pin torch (and BLAS) to the rule's `threads:`; small jobs run 1-thread side by side."""
    threads = max(1, int(threads))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        import torch
    except ImportError:  # data-only scripts need no torch
        return
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


def pick_device(prefer: str = "auto") -> str:
    """`cuda` when available (and not disabled), else `cpu`."""
    import torch

    if prefer == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if prefer == "cuda":
        raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
    return "cpu"


def init_script(snakemake) -> None:  # noqa: ANN001 - the object Snakemake injects into scripts
    """Logging + threads from a Snakemake `script:` job, and a line saying what the job reads/writes.

    A job whose `resources` give more than one GPU is re-run under torchrun, one process per GPU
    (`distildoc.utils.distributed.relaunch_under_torchrun`); only rank 0 then writes the rule's log file."""
    rank = int(os.environ.get("RANK", "0"))
    setup_logging(snakemake.log[0] if len(snakemake.log) and rank == 0 else None)
    if "RANK" not in os.environ:
        from .distributed import relaunch_under_torchrun

        relaunch_under_torchrun(int(getattr(snakemake, "resources", {}).get("gpu", 0) or 0))
    setup_threads(snakemake.threads)
    log.info("rule %s: inputs %s", snakemake.rule, list(snakemake.input))
    log.info("rule %s: outputs %s", snakemake.rule, list(snakemake.output))
