"""Download one real dataset of the paper preset into data/raw/<name>/ (distildoc.data.sources).

Snakemake: ``params.name`` is the registry name, ``output[0]`` the marker file ``data/raw/<name>/.complete``
(its folder's parent is the download root). Stand-alone: ``python workflow/scripts/download_dataset.py NAME DEST``
downloads into ``DEST/NAME`` and writes ``DEST/NAME/.complete``. The marker records what was written.
``DISTILDOC_MIRROR`` (or ``--mirror URL``) fetches every file from ``URL/NAME/<filename>`` instead of the
registry's URLs (the sizes and checksums still apply); the marker names the mirror used.
``DISTILDOC_REGISTRY_OVERRIDE`` (with a mirror only) names a JSON file of checksums that replace the registry's
for the files it lists (distildoc.data.sources.load_registry_override); the marker names it too.
"""


import argparse
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path

from distildoc.data.sources import download, file_url, get_source, mirror_base, override_path
from distildoc.utils.io import write_json

log = logging.getLogger("distildoc")


def run(name: str, dest_root: Path, marker: Path, mirror: str | None = None) -> list[Path]:
    """Download `name` under `dest_root` and write the marker file listing what was placed.

    `mirror`: base URL replacing the registry's (None: ``$DISTILDOC_MIRROR``, if set).
    """
    source = get_source(name)
    log.info("downloading %s (%s) into %s%s", name, source.title, source.target(dest_root),
             f" from the mirror {mirror_base(mirror)}" if mirror_base(mirror) else "")
    written = download(source, dest_root, mirror=mirror)
    for path in written:
        log.info("wrote %s", path)
    write_json(marker, {
        "dataset": name,
        "title": source.title,
        "homepage": source.homepage,
        "licence": source.licence,
        "hf_dataset": source.hf_dataset,
        "revision": source.revision,
        "mirror": mirror_base(mirror),
        "registry_override": str(override_path()) if override_path() else None,
        "files": [{"url": f.url, "fetched_from": file_url(source, f, mirror), "filename": f.filename, "size": f.size,
                   "sha256": f.sha256} for f in source.files],
        "written": [str(p) for p in written],
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    log.info("%s complete -> %s", name, marker)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="dataset name from distildoc.data.sources.SOURCES")
    parser.add_argument("dest", type=Path, help="download root (the pipeline uses data/raw)")
    parser.add_argument("--mirror", default=None,
                        help="base URL serving <NAME>/<filename> in place of the registry URLs "
                             "(default: $DISTILDOC_MIRROR; '' forces the registry URLs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(args.name, args.dest, get_source(args.name).target(args.dest) / ".complete", args.mirror)
    except (KeyError, RuntimeError) as err:
        log.error("%s", err)
        return 1
    return 0


if "snakemake" in globals():
    from distildoc.utils.runtime import init_script

    init_script(snakemake)  # noqa: F821 - injected by Snakemake
    _marker = Path(snakemake.output[0])  # noqa: F821
    run(snakemake.params.name, _marker.parent.parent, _marker)  # noqa: F821
elif __name__ == "__main__":
    sys.exit(main())
