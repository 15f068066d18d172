"""The Snakemake HTML report as people open it: what the workflow registers with `report(...)`, and the report
page driven in headless Chromium (Debian's `chromium`, through Playwright's Python package; `make browser-deps`).

Playwright rather than Chromium's own `--dump-dom` / `--screenshot` flags: the report is a React app whose results
appear only after clicks (category, subcategory, a result's eye button), a table is a page inside a data: URL
frame, and the console has to be watched throughout; Playwright gives clicks, waits, frames, console and page
errors and screenshots through one API, with no DevTools protocol code of our own. It never downloads a browser
here: it starts the system Chromium (`executable_path`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: the machine has no network: without these Chromium waits on connections (sync, updates, QUIC, first-run)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 120_000  # shared cores: the 5-10 MB report page can take a while to parse and render


def chromium() -> str | None:
    """The Chromium executable (DISTILDOC_CHROMIUM, else `chromium` on PATH), or None."""
    return os.environ.get("DISTILDOC_CHROMIUM") or shutil.which("chromium")


def browser_missing() -> str | None:
    """Why the browser check cannot run here, or None when it can."""
    if chromium() is None:
        return "no Chromium (Debian package `chromium`; `make browser-deps` installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "no Python package playwright (the dev extras: pip install -e '.[dev]')"
    return None


_REGISTERED = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.io import get_flag_value, is_flagged
from snakemake.settings.enums import Quietness
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile"), workdir=Path("."),
                      config_settings=ConfigSettings(config={"preset": sys.argv[1]}))
    found = []
    for rule in wf._workflow.rules:  # the parsed workflow (no public accessor in Snakemake 9)
        for f in rule.output:
            if is_flagged(f, "report"):
                r = get_flag_value(f, "report")
                found.append({"rule": rule.name, "path": str(f), "category": r.category,
                              "subcategory": r.subcategory, "labels": r.labels})
print("REGISTERED " + json.dumps(found))
"""


def registered_results(project: Path, preset: str, target_rules: set[str] | None = None) -> list[dict]:
    """Every output a rule of the workflow marks with `report(...)` (path, category, subcategory, labels), read
    from the parsed rules (Snakemake's API) in `project` for `preset`; only rules in `target_rules` when given."""
    res = subprocess.run([sys.executable, "-c", _REGISTERED, preset], cwd=project, capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("REGISTERED "))
    found = json.loads(line.removeprefix("REGISTERED "))
    return [r for r in found if target_rules is None or r["rule"] in target_rules]


@dataclass
class Opened:
    """One result opened from the report's navigation (its eye button)."""

    path: str
    category: str
    subcategory: str
    kind: str  # "img" or "html"
    natural_size: tuple[int, int] | None = None  # an image's naturalWidth / naturalHeight
    table_rows: int | None = None  # an HTML table's body rows
    table_columns: int | None = None
    empty_note: bool = False  # the page says the table has no rows in this run


@dataclass
class ReportView:
    """What the page showed: its categories / subcategories (the `categories` the report embeds), the menu's
    entries, every result opened, console errors, page errors, failed requests and the screenshots saved."""

    categories: dict[str, list[str]] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)  # path -> MIME type, as embedded
    menu: list[str] = field(default_factory=list)
    opened: list[Opened] = field(default_factory=list)
    listed: dict[str, list[str]] = field(default_factory=dict)  # "category / subcategory" -> result paths listed
    console_errors: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)


def _open_category(page, category: str, subcategory: str, n_subcategories: int) -> None:
    page.evaluate("() => app.setView({navbarMode: 'menu'})")  # back to the menu (the breadcrumbs' first entry)
    page.locator("nav li a", has=page.locator("span", has_text=category)).first.click()
    if n_subcategories > 1:  # the category lists its subcategories first
        page.locator("nav li a", has=page.locator("span", has_text=subcategory)).first.click()
    page.wait_for_function("([c, s]) => app.state.navbarMode === 'subcategory' && app.state.category === c "
                           "&& app.state.subcategory === s", arg=[category, subcategory])


def inspect_report(report: Path, artifacts: Path, executable: str | None = None) -> ReportView:
    """Open `report` (file://) in headless Chromium, click through every category, subcategory and result, and
    record what rendered; screenshots (the landing page, then the first result of each category) go to
    `artifacts`."""
    from playwright.sync_api import sync_playwright

    view = ReportView()
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        # a persistent context: Chromium starts with our fresh --user-data-dir
        ctx = pw.chromium.launch_persistent_context(
            profile, executable_path=executable or chromium(), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1000})
        try:
            page = ctx.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("console", lambda m: view.console_errors.append(f"console {m.type}: {m.text} ({m.location})")
                    if m.type == "error" else None)
            page.on("pageerror", lambda exc: view.console_errors.append(f"page error: {exc}"))
            page.on("requestfailed", lambda r: view.console_errors.append(f"request failed: {r.url[:200]}"))
            page.goto(report.resolve().as_uri(), wait_until="load", timeout=TIMEOUT_MS)
            page.wait_for_function("() => typeof app !== 'undefined' && document.querySelector('nav li a')")
            embedded = page.evaluate("() => ({categories: Object.fromEntries(Object.entries(categories).map("
                                     "([c, subs]) => [c, Object.keys(subs)])), results: Object.fromEntries("
                                     "Object.entries(results).map(([p, r]) => [p, r.mime_type]))})")
            view.categories, view.results = embedded["categories"], embedded["results"]
            view.menu = [t.strip() for t in page.locator("nav li a span").all_inner_texts()]
            shot = artifacts / "report_landing.png"
            page.screenshot(path=str(shot))
            view.screenshots.append(shot)
            content = page.locator("#app > div > div.grow")
            for category in sorted(view.categories):
                subcategories = sorted(view.categories[category])
                for subcategory in subcategories:
                    _open_category(page, category, subcategory, len(subcategories))
                    rows = page.locator("nav table tbody tr")
                    rows.first.wait_for()
                    listed = []
                    for i in range(rows.count()):
                        # the row's eye button (ResultViewButton), then the info button
                        rows.nth(i).locator("td").last.locator("a").first.click()
                        path = page.evaluate("() => app.state.resultPath")
                        listed.append(path)
                        opened = Opened(path=path, category=category, subcategory=subcategory, kind="?")
                        # the content pane shows this result (an img or an iframe whose src is its data URI)
                        page.wait_for_function("(p) => [...document.querySelectorAll('#app > div > div.grow img, "
                                               "#app > div > div.grow iframe')].some(el => el.src === "
                                               "results[p].data_uri)", arg=path)
                        if page.evaluate("() => app.state.content") == "img":
                            img = content.locator("img")
                            page.wait_for_function("() => document.querySelector('#app > div > div.grow img')"
                                                   ".complete")
                            opened.kind = "img"
                            opened.natural_size = tuple(img.evaluate("i => [i.naturalWidth, i.naturalHeight]"))
                        else:
                            frame = _loaded_frame(page, path)
                            opened.kind = "html"
                            opened.table_rows = frame.locator("table tbody tr").count()
                            opened.table_columns = frame.locator("table thead th").count()
                            opened.empty_note = frame.locator("p.empty").count() > 0
                        view.opened.append(opened)
                        if i == 0 and subcategory == subcategories[0]:
                            shot = artifacts / f"report_{_slug(category)}.png"
                            page.screenshot(path=str(shot))
                            view.screenshots.append(shot)
                    view.listed[f"{category} / {subcategory}"] = listed
        finally:
            ctx.close()
    return view


def _loaded_frame(page, path: str):
    """The frame showing result `path` (its data: URL) once its table's header is there. Looked up by URL, polled: the
    data: URL page loads in a frame of its own origin (and process), which replaces the frame React inserted."""
    uri = page.evaluate("(p) => results[p].data_uri", path)
    for _ in range(TIMEOUT_MS // 250):
        frames = [f for f in page.frames if f.url == uri and not f.is_detached()]
        try:
            if frames and frames[-1].locator("table thead th").count() > 0:
                return frames[-1]
        except Exception:  # noqa: BLE001 - the frame navigated or went away between the look-up and the count
            pass
        page.wait_for_timeout(250)
    raise AssertionError(f"{path}: no frame with a table header after {TIMEOUT_MS / 1000:.0f} s")


def _slug(text: str) -> str:
    return "_".join("".join(c if c.isalnum() else " " for c in text).split()).lower()
