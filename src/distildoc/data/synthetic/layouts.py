"""One layout family per document class.

Every function draws one page of its class on a `PageCanvas` and asks QA pairs about what it drew.
Classes share building blocks (key-value headers, paragraphs, tables, pictures), and every family has
optional parts, so that telling e.g. a memo from an email or a budget from an invoice takes more than
one cue. Class names are RVL-CDIP's; `note` is the extra Tobacco-3482 family.
"""

from __future__ import annotations

from typing import Callable

from . import vocab as V
from .canvas import Flow, PageCanvas

LayoutFn = Callable[[PageCanvas], None]
LAYOUTS: dict[str, LayoutFn] = {}


def layout(name: str) -> Callable[[LayoutFn], LayoutFn]:
    def deco(fn: LayoutFn) -> LayoutFn:
        LAYOUTS[name] = fn
        return fn

    return deco


def _flow(cv: PageCanvas, n_cols: int = 1, top: float | None = None, gap: float = 18) -> Flow:
    s = cv.style
    inner = cv.width - 2 * s.margin_x
    col_w = (inner - gap * (n_cols - 1)) / n_cols
    cols = [(s.margin_x + i * (col_w + gap), col_w) for i in range(n_cols)]
    return Flow(cv, cols, top if top is not None else s.margin_y, cv.height - s.margin_y)


def _page_header(cv: PageCanvas, text: str) -> None:
    size = cv.style.base_size - 2
    box = cv.text_line(cv.style.margin_x, cv.style.margin_y * 0.45, text, size)
    cv.region("Page-header", box)


def _page_footer(cv: PageCanvas, text: str) -> None:
    size = cv.style.base_size - 2
    w = cv.text_width(text, size)
    box = cv.text_line((cv.width - w) / 2, cv.height - cv.style.margin_y * 0.7, text, size)
    cv.region("Page-footer", box)


def _maybe_footer(cv: PageCanvas, p: float = 0.5) -> None:
    if cv.rng.random() < p:
        _page_footer(cv, cv.rng.choice([f"Page {cv.rng.randint(1, 9)}", f"- {cv.rng.randint(1, 40)} -",
                                         "CONFIDENTIAL", f"Page {cv.rng.randint(1, 3)} of {cv.rng.randint(3, 6)}"]))


def _key_values(fl: Flow, pairs: list[tuple[str, str]], size: float, category: str = "Text",
                key_w: float | None = None) -> dict[str, str]:
    """`Key: value` lines with aligned values; returns the values actually rendered, by key."""
    cv = fl.canvas
    kw = key_w or max(cv.text_width(k, size, "bold") for k, _ in pairs) + 12
    out = {}
    for key, value in pairs:
        lh = cv.line_height(size)
        if not fl.reserve(lh):
            break
        kb = cv.text_line(fl.x, fl.y, key, size, "bold")
        vb = cv.text_line(fl.x + kw, fl.y, value, size)
        if kb and vb:
            cv.region(category, (kb[0], min(kb[1], vb[1]), vb[2], max(kb[3], vb[3])))
            out[key] = value
        fl.y += lh + 3
    return out


def _sections(fl: Flow, rng, n: int, size: float, numbered: bool = True, extras: bool = True) -> dict[int, str]:
    """Numbered section headers followed by paragraphs (and optional lists / tables / figures)."""
    names = rng.sample(V.SECTION_NAMES, k=min(n, len(V.SECTION_NAMES)))
    rendered = {}
    fig_no = tab_no = 0
    for i, name in enumerate(names, 1):
        head = f"{i}. {name}" if numbered else name
        if fl.line("Section-header", head, size + 1.5, "bold", gap=3) is None:
            break
        rendered[i] = name
        fl.paragraph("Text", V.paragraph(rng, 2, 4), size)
        roll = rng.random() if extras else 1.0
        if roll < 0.18:
            fl.bullets([V.sentence(rng, 4, 9) for _ in range(rng.randint(2, 4))], size)
        elif roll < 0.32:
            fig_no += 1
            if fl.picture(rng.randint(50, 110), width_frac=rng.uniform(0.5, 0.9)) is not None:
                cap = f"Figure {fig_no}: {V.title_case(rng.choice(V.TOPICS))} by {rng.choice(['year', 'region', 'group', 'sample'])}"
                box = fl.line("Caption", cap, size - 1.5, "italic", gap=6)
                if box is not None:
                    fl.canvas.ask(f"What is the caption of Figure {fig_no}?", cap, ["figure/diagram"])
        elif roll < 0.42:
            tab_no += 1
            cap = f"Table {tab_no}: {V.title_case(rng.choice(V.TOPICS))}"
            if fl.line("Caption", cap, size - 1.5, "italic", gap=2) is not None:
                _numeric_table(fl, rng, size - 1, n_rows=rng.randint(2, 5))
        elif roll < 0.48:
            f = rng.choice(["E = m c^2", "y = a + b x + e", "R(t) = R0 exp(-k t)", "S = sum_i w_i x_i",
                            "p = n / (n + m)"])
            fl.line("Formula", f"{f}   ({rng.randint(1, 9)})", size, indent=fl.width * 0.25)
    return rendered


def _numeric_table(fl: Flow, rng, size: float, n_rows: int, ask: bool = True) -> None:
    years = sorted(rng.sample(range(1975, 1999), k=rng.randint(2, 4)))
    items = rng.sample(V.BUDGET_ITEMS, k=n_rows)
    header = ["Item"] + [str(y) for y in years]
    rows = [[it] + [V.amount(rng, 100, 90_000) for _ in years] for it in items]
    box, cells = fl.table(header, rows, size, grid=rng.random() < 0.6,
                          col_fracs=[0.34] + [0.66 / len(years)] * len(years))
    if box is None or not ask:
        return
    _ask_cell(fl.canvas, rng, cells, "What is the {col} amount for {row}?")


def _ask_cell(cv: PageCanvas, rng, cells: list[list[str | None]], template: str) -> None:
    body = [r for r in cells[1:] if r and r[0] and all(c is not None for c in r)]
    if not body or not cells[0]:
        return
    row = rng.choice(body)
    c = rng.randrange(1, len(row))
    col = cells[0][c]
    if col is None or row[c] is None:
        return
    cv.ask(template.format(col=col, row=row[0]), row[c], ["table/list"])


# -- the 16 RVL-CDIP classes -------------------------------------------------------------------------


@layout("letter")
def letter(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size
    fl = _flow(cv)
    org = V.company(rng)
    if rng.random() < 0.6:
        fl.picture(36, kind="logo", width_frac=0.12)
    fl.line("Page-header", org.upper(), s + 3, "bold", gap=1)
    fl.line("Page-header", V.address(rng), s - 1, gap=14)
    d = V.date(rng)
    fl.line("Text", d, s, gap=10)
    cv.ask("What is the date of the letter?", d, ["others"])
    to = V.person(rng)
    fl.paragraph("Text", f"{to} {V.company(rng)} {V.address(rng)}", s, gap=10)
    fl.line("Text", f"Dear {to.split()[0]},", s, gap=8)
    for _ in range(rng.randint(2, 4)):
        fl.paragraph("Text", V.paragraph(rng, 2, 5), s, gap=8)
    fl.line("Text", rng.choice(["Sincerely,", "Very truly yours,", "Best regards,"]), s, gap=2)
    if fl.reserve(30):
        cv.scribble((fl.x, fl.y, fl.x + rng.randint(80, 150), fl.y + 26))
        fl.skip(32)
    sender = V.person(rng)
    if fl.line("Text", sender, s) is not None:
        cv.ask("Who signed the letter?", sender, ["layout"])
    cv.ask("Who is the letter addressed to?", to, ["others"])
    _maybe_footer(cv, 0.2)


@layout("form")
def form(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size
    fl = _flow(cv)
    title = rng.choice(["Application Form", "Request For Payment", "Expense Report", "Registration Form",
                        "Purchase Requisition", "Change Of Address"])
    fl.line("Title", title.upper(), s + 6, "bold", gap=12)
    pairs = [("Name:", V.person(rng)), ("Date:", V.date(rng)), ("Department:", rng.choice(V.TOPICS)),
             ("Account No.:", V.number_id(rng, 7)), ("Phone:", V.phone(rng)), ("Amount:", V.amount(rng)),
             ("Approved by:", V.person(rng)), ("Location:", rng.choice(V.CITIES))]
    rng.shuffle(pairs)
    pairs = pairs[: rng.randint(4, 8)]
    for (k, v) in pairs:
        # boxed fields
        lh = cv.line_height(s) + 8
        if not fl.reserve(lh):
            break
        cv.rect((fl.x, fl.y - 3, fl.x + fl.width, fl.y + lh - 5))
        kb = cv.text_line(fl.x + 4, fl.y + 1, k, s, "bold")
        vb = cv.text_line(fl.x + fl.width * 0.35, fl.y + 1, v, s)
        if kb and vb:
            cv.region("Text", (kb[0], kb[1], vb[2], vb[3]))
            cv.ask(f"What is the {k.rstrip(':.').lower()} mentioned in the form?", v, ["form"])
        fl.y += lh
    fl.skip(10)
    if rng.random() < 0.7:
        for opt in rng.sample(["Check", "Cash", "Wire transfer", "Credit"], k=3):
            if not fl.reserve(cv.line_height(s)):
                break
            cv.checkbox(fl.x, fl.y + 2, s - 2, rng.random() < 0.4)
            box = cv.text_line(fl.x + s + 4, fl.y, opt, s)
            cv.region("List-item", box)
            fl.y += cv.line_height(s) + 2
    if rng.random() < 0.5:
        fl.paragraph("Footnote", "Instructions: " + V.sentence(rng, 8, 14), s - 3, gap=4)
    _maybe_footer(cv, 0.4)


@layout("email")
def email(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size
    fl = _flow(cv)
    sender, to = V.person(rng), V.person(rng)
    subject = V.title_case(rng.choice(V.TOPICS))
    if rng.random() < 0.5:
        fl.line("Page-header", f"{sender.split()[0]}, {to.split()[1]}", s - 1, gap=6)
    vals = _key_values(fl, [("From:", sender), ("Sent:", V.date(rng)), ("To:", to),
                            ("Cc:", V.person(rng)), ("Subject:", subject)][: rng.randint(3, 5)] , s)
    if "From:" in vals:
        cv.ask("Who is the sender of the email?", sender, ["form"])
    if "Subject:" in vals:
        cv.ask("What is the subject of the email?", subject, ["form"])
    fl.skip(4)
    cv.hline(fl.x, fl.x + fl.width, fl.y)
    fl.skip(10)
    for _ in range(rng.randint(1, 4)):
        fl.paragraph("Text", V.paragraph(rng, 1, 4), s, gap=8)
    fl.line("Text", sender.split()[0], s)
    if rng.random() < 0.3:
        fl.paragraph("Footnote", "This message is intended only for the use of the addressee. " +
                     V.sentence(rng), s - 3)


def _handwriting(cv: PageCanvas, fl: Flow, lines: list[str], size: float) -> list[str]:
    done = []
    for text in lines:
        lh = cv.line_height(size) + 6
        if not fl.reserve(lh):
            break
        box = cv.text_line(fl.x + cv.rng.uniform(0, 20), fl.y, text, size, "italic", jitter=2.5, stroke=1)
        cv.region("Text", box)
        if box:
            done.append(text)
        fl.y += lh
    return done


@layout("handwritten")
def handwritten(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size + 5
    fl = _flow(cv)
    if rng.random() < 0.4:
        cv.hline(fl.x, fl.x + fl.width, fl.y + 2)
        fl.skip(10)
    who = V.person(rng)
    first = _handwriting(cv, fl, [f"To {who}", V.date(rng)], s)
    body = [" ".join(V.words(rng, rng.randint(3, 6))) for _ in range(rng.randint(4, 12))]
    _handwriting(cv, fl, body, s)
    if first and first[0].startswith("To "):
        cv.ask("Who is the note written to?", who, ["handwritten"])
    for _ in range(rng.randint(1, 4)):
        x = rng.uniform(cv.style.margin_x, cv.width * 0.6)
        y = rng.uniform(cv.height * 0.2, cv.height * 0.85)
        cv.scribble((x, y, x + rng.uniform(60, 200), y + rng.uniform(10, 30)), strokes=rng.randint(1, 3))


@layout("advertisement")
def advertisement(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size
    fl = _flow(cv)
    brand = rng.choice(V.COMPANY_STEMS).upper()
    fl.line("Title", brand, s + rng.randint(14, 24), "bold", gap=10)
    cv.ask("What is the brand name in the advertisement?", brand, ["image/photo"])
    fl.picture(rng.randint(180, 320), kind=rng.choice(["photo", "photo", "logo"]), width_frac=rng.uniform(0.7, 1.0))
    slogan = " ".join(V.words(rng, rng.randint(3, 6))).capitalize()
    fl.paragraph("Text", slogan, s + rng.randint(4, 10), "bold", align="center")
    price = V.amount(rng, 1, 99)
    if rng.random() < 0.6 and fl.line("Text", f"Only {price}", s + 6, "bold") is not None:
        cv.ask("What is the advertised price?", price, ["image/photo"])
    if rng.random() < 0.5:
        fl.paragraph("Footnote", "SURGEON GENERAL'S WARNING: " + V.sentence(rng, 8, 12), s - 3)


@layout("scientific report")
def scientific_report(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size
    if rng.random() < 0.7:
        _page_header(cv, f"{V.company(rng)} - Research Report {V.number_id(rng, 4)}")
    fl = _flow(cv)
    title = f"{rng.choice(['Report on', 'Study of', 'Evaluation of'])} {rng.choice(V.TOPICS)}"
    fl.line("Title", title, s + 5, "bold", gap=4)
    cv.ask("What is the title of the report?", title, ["layout"])
    author = V.person(rng)
    _key_values(fl, [("Author:", author), ("Date:", V.date(rng))], s)
    fl.skip(6)
    secs = _sections(fl, rng, rng.randint(2, 5), s)
    if len(secs) >= 2:
        i = rng.randint(1, len(secs))
        cv.ask(f"What is the title of section {i}?", secs[i], ["layout"])
    _maybe_footer(cv, 0.7)


@layout("scientific publication")
def scientific_publication(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size - 1
    if rng.random() < 0.6:
        _page_header(cv, f"Journal of {rng.choice(V.TOPICS)} {rng.randint(1, 60)} ({rng.randint(1970, 1999)})")
    full = _flow(cv)
    title = f"{rng.choice(V.TOPICS)} in {rng.choice(V.TOPICS).lower()}"
    full.paragraph("Title", title, s + 6, "bold", align="center", gap=4)
    cv.ask("What is the title of the paper?", title, ["layout"])
    authors = [V.person(rng) for _ in range(rng.randint(1, 3))]
    full.line("Text", ", ".join(authors), s, gap=2, indent=0)
    cv.ask("Who is the first author?", authors[0], ["layout"])
    full.line("Text", rng.choice(V.UNIVERSITIES), s - 1, "italic", gap=8)
    full.paragraph("Text", "Abstract. " + V.paragraph(rng, 2, 4), s - 1, gap=8)
    cols = _flow(cv, n_cols=2, top=full.y)
    _sections(cols, rng, rng.randint(3, 6), s)
    if rng.random() < 0.6:
        box = cv.text_line(cv.style.margin_x, cv.height - cv.style.margin_y - 4,
                           f"1 {V.sentence(rng, 5, 9)}", s - 3)
        cv.region("Footnote", box)
    _maybe_footer(cv, 0.5)


@layout("specification")
def specification(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size
    fl = _flow(cv)
    code = f"{rng.choice('ABCDEFGH')}{V.number_id(rng, 3)}"
    title = f"PRODUCT SPECIFICATION {code}"
    fl.line("Title", title, s + 4, "bold", gap=6)
    cv.ask("What is the specification code?", code, ["others"])
    _key_values(fl, [("Brand:", rng.choice(V.COMPANY_STEMS)), ("Effective:", V.date(rng)),
                     ("Revision:", str(rng.randint(1, 9)))], s)
    fl.skip(6)
    props = rng.sample(V.SPEC_PROPERTIES, k=rng.randint(4, 9))
    rows = [[p, f"{rng.uniform(0.5, 99):.1f}", f"± {rng.uniform(0.1, 3):.1f}", rng.choice(V.UNITS)] for p in props]
    box, cells = fl.table(["Property", "Target", "Tolerance", "Unit"], rows, s - 1, grid=True,
                          col_fracs=[0.4, 0.2, 0.2, 0.2])
    if box is not None:
        _ask_cell(cv, rng, cells, "What is the {col} for {row}?")
    if rng.random() < 0.7:
        fl.line("Section-header", "Notes", s + 1, "bold")
        fl.bullets([V.sentence(rng, 5, 10) for _ in range(rng.randint(2, 4))], s, bullet="-")
    _maybe_footer(cv, 0.6)


@layout("file folder")
def file_folder(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size
    w, h = cv.width, cv.height
    # folder tab and outline
    tx = rng.uniform(0.1, 0.5) * w
    cv.draw.rectangle((tx, 0.08 * h, tx + 0.3 * w, 0.14 * h), outline=cv.style.ink, width=3)
    cv.draw.rectangle((0.05 * w, 0.14 * h, 0.95 * w, 0.95 * h), outline=cv.style.ink, width=3)
    label = f"{rng.choice(V.TOPICS).upper()} {rng.randint(1970, 1999)}"
    box = cv.text_line(tx + 8, 0.09 * h, label, s + 2, "bold")
    cv.region("Title", box)
    if box is not None:
        cv.ask("What is written on the folder tab?", label, ["layout"])
    if rng.random() < 0.6:
        sticker = (0.2 * w, 0.3 * h, 0.2 * w + rng.uniform(100, 250), 0.3 * h + rng.uniform(40, 90))
        cv.rect(sticker, width=2)
        b = cv.text_line(sticker[0] + 6, sticker[1] + 6, f"File {V.number_id(rng, 5)}", s)
        cv.region("Text", b)
    for _ in range(rng.randint(0, 3)):
        x, y = rng.uniform(0.1, 0.7) * w, rng.uniform(0.45, 0.85) * h
        cv.scribble((x, y, x + rng.uniform(40, 150), y + 20), strokes=1)


@layout("news article")
def news_article(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size - 1
    full = _flow(cv)
    paper = f"The {rng.choice(V.CITIES)} {rng.choice(['Times', 'Herald', 'Post', 'Journal', 'Gazette'])}"
    full.line("Page-header", paper, s + 8, "bold", gap=2)
    cv.hline(full.x, full.x + full.width, full.y, width=2)
    full.skip(6)
    headline = " ".join(V.words(rng, rng.randint(4, 7))).title()
    full.paragraph("Title", headline, s + 7, "bold", gap=6)
    cv.ask("What is the headline of the article?", headline, ["layout"])
    n = rng.choice([2, 3, 3, 4])
    cols = _flow(cv, n_cols=n, top=full.y, gap=10)
    reporter = V.person(rng)
    if cols.line("Text", f"By {reporter}", s - 1, "italic") is not None:
        cv.ask("Who wrote the article?", reporter, ["layout"])
    if rng.random() < 0.6:
        if cols.picture(rng.randint(70, 140), kind="photo") is not None:
            cap = f"{V.person(rng)} at the {rng.choice(V.TOPICS).lower()} meeting"
            if cols.line("Caption", cap, s - 2, "italic") is not None:
                cv.ask("Who is shown in the photo?", cap.split(" at ")[0], ["image/photo"])
    for _ in range(12):
        if cols.paragraph("Text", V.paragraph(rng, 2, 4), s, gap=5) is None:
            break


@layout("budget")
def budget(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size - 1
    fl = _flow(cv)
    title = rng.choice(["PROPOSED BUDGET", "BUDGET SUMMARY", "ANNUAL BUDGET", "BUDGET ESTIMATE"])
    fl.line("Title", title, s + 5, "bold", gap=4)
    fl.line("Text", f"{rng.choice(V.TOPICS)} Program - {V.company(rng)}", s, gap=8)
    _numeric_table(fl, rng, s, n_rows=rng.randint(5, 12))
    total = V.amount(rng, 50_000, 900_000)
    if fl.line("Text", f"TOTAL {total}", s + 1, "bold") is not None:
        cv.ask("What is the total budget?", total, ["table/list"])
    if rng.random() < 0.5:
        fl.paragraph("Footnote", "Note: " + V.sentence(rng, 6, 12), s - 2)
    _maybe_footer(cv, 0.4)


@layout("invoice")
def invoice(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size - 1
    fl = _flow(cv)
    seller = V.company(rng)
    if rng.random() < 0.5:
        fl.picture(34, kind="logo", width_frac=0.1)
    fl.line("Page-header", seller, s + 4, "bold", gap=2)
    fl.line("Page-header", V.address(rng), s - 1, gap=10)
    fl.line("Title", "INVOICE", s + 8, "bold", gap=8)
    no, d = V.number_id(rng, 6), V.date(rng)
    vals = _key_values(fl, [("Invoice No.:", no), ("Date:", d), ("Bill to:", V.company(rng))], s)
    if "Invoice No.:" in vals:
        cv.ask("What is the invoice number?", no, ["form"])
    if "Date:" in vals:
        cv.ask("What is the invoice date?", d, ["form"])
    fl.skip(8)
    items = rng.sample(V.PRODUCTS, k=rng.randint(2, 7))
    rows = []
    for it in items:
        q, p = rng.randint(1, 40), rng.randint(2, 900)
        rows.append([it, str(q), f"${p:,}.00", f"${q * p:,}.00"])
    box, cells = fl.table(["Description", "Qty", "Unit Price", "Amount"], rows, s, grid=rng.random() < 0.5,
                          col_fracs=[0.4, 0.12, 0.24, 0.24])
    if box is not None:
        _ask_cell(cv, rng, cells, "What is the {col} of the {row}?")
    total = f"${sum(int(r[3][1:-3].replace(',', '')) for r in rows):,}.00"
    if fl.line("Text", f"Total Due: {total}", s + 1, "bold", indent=fl.width * 0.5) is not None:
        cv.ask("What is the total amount due?", total, ["form"])
    _maybe_footer(cv, 0.3)


@layout("presentation")
def presentation(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size + 4
    # slide frame in landscape inside the portrait page
    x1, y1 = cv.style.margin_x * 0.6, cv.height * rng.uniform(0.08, 0.25)
    x2, y2 = cv.width - x1, y1 + (cv.width - 2 * x1) * 0.75
    cv.rect((x1, y1, x2, y2), width=2)
    fl = Flow(cv, [(x1 + 16, x2 - x1 - 32)], y1 + 14, y2 - 10)
    title = V.title_case(rng.choice(V.TOPICS))
    fl.line("Title", title, s + 6, "bold", gap=10)
    cv.ask("What is the title of the slide?", title, ["layout"])
    fl.bullets([" ".join(V.words(rng, rng.randint(3, 6))).capitalize() for _ in range(rng.randint(2, 5))], s)
    if rng.random() < 0.5:
        fl.picture(rng.randint(60, 120), kind=rng.choice(["bars", "plot"]), width_frac=0.6)
    if rng.random() < 0.5:
        b = cv.text_line(x1, y2 + 8, f"Slide {rng.randint(1, 30)}", cv.style.base_size - 2)
        cv.region("Page-footer", b)


@layout("questionnaire")
def questionnaire(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size
    fl = _flow(cv)
    title = f"{rng.choice(V.TOPICS)} Questionnaire"
    fl.line("Title", title, s + 4, "bold", gap=6)
    cv.ask("What is the title of the questionnaire?", title, ["layout"])
    fl.paragraph("Text", "Please answer every question. " + V.sentence(rng), s, gap=8)
    asked = False
    for q in range(1, rng.randint(3, 7)):
        text = f"{q}. {V.sentence(rng, 5, 10)[:-1]}?"
        if fl.paragraph("List-item", text, s, "bold", gap=3) is None:
            break
        opts = rng.sample(["Yes", "No", "Sometimes", "Never", "Daily", "Weekly", "Agree", "Disagree"], k=rng.randint(2, 4))
        if not fl.reserve(cv.line_height(s)):
            break
        cx = fl.x + 14
        option_boxes = []
        for o in opts:
            cv.checkbox(cx, fl.y + 2, s - 2, rng.random() < 0.3)
            option_boxes.append(cv.text_line(cx + s + 2, fl.y, o, s))
            cx += s + 14 + cv.text_width(o, s)
        drawn = [b for b in option_boxes if b is not None]
        if drawn:
            cv.region("Text", (fl.x + 14, min(b[1] for b in drawn), max(b[2] for b in drawn), max(b[3] for b in drawn)))
        fl.y += cv.line_height(s) + 6
        if not asked and rng.random() < 0.5:
            cv.ask(f"What is the first option offered for question {q}?", opts[0], ["form"])
            asked = True
    _maybe_footer(cv, 0.5)


@layout("resume")
def resume(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size
    fl = _flow(cv)
    name = V.person(rng)
    fl.line("Title", name.upper() if rng.random() < 0.5 else name, s + 7, "bold", gap=3)
    cv.ask("Whose resume is this?", name, ["layout"])
    mail = f"{name.split()[0].lower()}.{name.split()[1].lower()}@{rng.choice(V.COMPANY_STEMS).lower()}.com"
    _key_values(fl, [("Address:", V.address(rng)), ("Telephone:", V.phone(rng)), ("Email:", mail)], s - 1)
    cv.ask("What is the email address?", mail, ["form"], variants=[])
    fl.skip(6)
    univ = rng.choice(V.UNIVERSITIES)
    for sec in rng.sample(["Education", "Experience", "Skills", "Publications", "References"], k=rng.randint(3, 5)):
        if fl.line("Section-header", sec.upper(), s + 1, "bold", gap=2) is None:
            break
        cv.hline(fl.x, fl.x + fl.width, fl.y - 2)
        if sec == "Education":
            deg = f"{rng.choice(['B.S.', 'M.S.', 'Ph.D.', 'B.A.'])} {rng.choice(V.SKILLS)}, {univ}, {rng.randint(1960, 1990)}"
            if fl.bullets([deg], s):
                cv.ask("Which university did the candidate attend?", univ, ["layout"])
        elif sec == "Skills":
            fl.bullets(rng.sample(V.SKILLS, k=rng.randint(2, 5)), s)
        else:
            for _ in range(rng.randint(1, 3)):
                fl.line("Text", f"{rng.randint(1960, 1995)} - {rng.choice(V.TOPICS)}, {V.company(rng)}", s, "bold", gap=1)
                fl.paragraph("Text", V.sentence(rng, 8, 16), s, gap=4)


@layout("memo")
def memo(cv: PageCanvas) -> None:
    rng, s = cv.rng, cv.style.base_size
    fl = _flow(cv)
    if rng.random() < 0.5:
        fl.line("Page-header", V.company(rng).upper(), s, "bold", gap=6)
    fl.line("Title", rng.choice(["MEMORANDUM", "INTEROFFICE MEMORANDUM", "MEMO"]), s + 6, "bold", gap=10)
    to, frm, subj = V.person(rng), V.person(rng), V.title_case(rng.choice(V.TOPICS))
    pairs = [("TO:", to), ("FROM:", frm), ("DATE:", V.date(rng)), ("SUBJECT:", subj)]
    if rng.random() < 0.5:
        pairs.insert(2, ("CC:", V.person(rng)))
    vals = _key_values(fl, pairs, s)
    if "FROM:" in vals:
        cv.ask("Who is the memo from?", frm, ["form"])
    if "TO:" in vals:
        cv.ask("To whom is the memo addressed?", to, ["form"])
    if "SUBJECT:" in vals:
        cv.ask("What is the subject of the memo?", subj, ["form"])
    fl.skip(2)
    cv.hline(fl.x, fl.x + fl.width, fl.y, width=2)
    fl.skip(10)
    for _ in range(rng.randint(1, 4)):
        fl.paragraph("Text", V.paragraph(rng, 2, 5), s, gap=8)
    if rng.random() < 0.4:
        fl.bullets([V.sentence(rng, 4, 9) for _ in range(rng.randint(2, 4))], s)
    _maybe_footer(cv, 0.3)


# -- Tobacco-3482's extra family ------------------------------------------------------------------------


@layout("note")
def note(cv: PageCanvas) -> None:
    """A short handwritten note on a small slip (Tobacco-3482's `Note`)."""
    rng, s = cv.rng, cv.style.base_size + 4
    x1, y1 = cv.width * rng.uniform(0.1, 0.25), cv.height * rng.uniform(0.1, 0.3)
    x2, y2 = cv.width - x1, y1 + cv.height * rng.uniform(0.3, 0.45)
    cv.rect((x1, y1, x2, y2), width=2)
    fl = Flow(cv, [(x1 + 12, x2 - x1 - 24)], y1 + 12, y2 - 8)
    b = cv.text_line(fl.x, fl.y, "NOTE", s, "bold")
    cv.region("Title", b)
    fl.skip(cv.line_height(s) + 6)
    who = V.person(rng)
    done = _handwriting(cv, fl, [f"For {who}"] + [" ".join(V.words(rng, rng.randint(2, 5))) for _ in range(rng.randint(2, 6))], s)
    if done:
        cv.ask("Who is the note for?", who, ["handwritten"])
