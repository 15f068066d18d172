"""Word lists for synthetic page content (plain English business and science vocabulary)."""

from __future__ import annotations

import random

WORDS = """the of and to in is for on with as by at from that this be are was an or it which report
results data analysis program research tobacco product market sales company committee meeting project
study review budget cost total annual quarter plan development management information section table
figure method sample test control group level effect increase decrease value rate growth share price
development production quality process system public health policy support service customer account
office department national regional research new first second final current previous proposed approved
summary following attached included reviewed discussed requested provided expected required available
important significant additional general specific similar different major minor various several number
period year month week date time order request letter memo contract agreement schedule payment invoice
material equipment facility laboratory field survey response question answer form application brand
consumer smoking smoker filter flavor package carton advertising campaign media print radio promotion""".split()

FIRST_NAMES = """James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard
Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark Margaret
Donald Sandra Steven Ashley Paul Kimberly Andrew Emily Joshua Donna Kenneth Michelle Kevin Carol Brian
Amanda George Dorothy Edward Melissa Ronald Deborah Timothy Stephanie Jason Rebecca Jeffrey Sharon""".split()

LAST_NAMES = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark
Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson
Baker Hall Rivera Campbell Mitchell Carter Roberts Phillips Evans Turner Parker Collins Edwards Stewart""".split()

COMPANY_STEMS = """Acme Allied Apex Atlas Beacon Cardinal Central Crescent Delta Eastern Empire Federal Frontier
General Global Granite Harbor Heritage Horizon Imperial Keystone Liberty Lincoln Meridian Metro Midland
National Northern Pacific Paramount Pioneer Premier Reliance Summit Sterling Union United Vanguard Western""".split()

COMPANY_SUFFIXES = ["Corporation", "Inc.", "Company", "Laboratories", "Industries", "Associates", "Group", "Ltd."]

CITIES = """Richmond Winston-Salem Louisville Atlanta Boston Chicago Denver Houston Memphis Nashville Portland
Raleigh Phoenix Dallas Columbus Charlotte Baltimore Cleveland Durham Greensboro Lexington Norfolk""".split()

STATES = ["VA", "NC", "KY", "GA", "MA", "IL", "CO", "TX", "TN", "OR", "AZ", "OH", "MD", "NY", "CA"]

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]

UNIVERSITIES = ["Vanderbilt University", "Duke University", "Emory University", "Purdue University",
                "Rutgers University", "Tulane University", "Cornell University", "Brown University"]

TOPICS = ["Filter Efficiency", "Consumer Preference", "Flavor Stability", "Market Response", "Sales Forecast",
          "Package Design", "Product Safety", "Quality Control", "Media Planning", "Moisture Content",
          "Tar Delivery", "Nicotine Analysis", "Brand Awareness", "Field Survey", "Cost Reduction"]

SECTION_NAMES = ["Introduction", "Background", "Methods", "Materials", "Results", "Discussion", "Conclusions",
                 "Recommendations", "Summary", "Objectives", "Procedure", "Findings", "Analysis", "Appendix"]

SKILLS = ["Statistics", "Chemistry", "Marketing", "Accounting", "Programming", "Negotiation", "Spanish",
          "Project management", "Public speaking", "Data analysis", "Laboratory safety", "Sales"]

BUDGET_ITEMS = ["Salaries", "Travel", "Supplies", "Equipment", "Publications", "Consultants", "Rent",
                "Utilities", "Telephone", "Postage", "Printing", "Advertising", "Training", "Insurance",
                "Maintenance", "Fringe benefits"]

SPEC_PROPERTIES = ["Length", "Circumference", "Weight", "Pressure drop", "Moisture", "Tar", "Nicotine",
                   "Carbon monoxide", "Ventilation", "Density", "Firmness", "Paper porosity", "Filter length"]

UNITS = ["mm", "g", "mg", "%", "mm WG", "cm/min", "N", "g/cm3"]

PRODUCTS = ["filter cartridge", "sample kit", "display carton", "lab reagent", "paper roll", "test probe",
            "shipping case", "label stock", "ink ribbon", "binder", "printer toner", "desk lamp"]


def words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(n)]


def sentence(rng: random.Random, lo: int = 6, hi: int = 14) -> str:
    w = words(rng, rng.randint(lo, hi))
    w[0] = w[0].capitalize()
    return " ".join(w) + "."


def paragraph(rng: random.Random, lo: int = 2, hi: int = 5) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(lo, hi)))


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def company(rng: random.Random) -> str:
    return f"{rng.choice(COMPANY_STEMS)} {rng.choice(COMPANY_SUFFIXES)}"


def date(rng: random.Random) -> str:
    return f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(1970, 1999)}"


def amount(rng: random.Random, lo: int = 100, hi: int = 250_000) -> str:
    return f"${rng.randint(lo, hi):,}"


def number_id(rng: random.Random, digits: int = 6) -> str:
    return str(rng.randint(10 ** (digits - 1), 10**digits - 1))


def phone(rng: random.Random) -> str:
    return f"({rng.randint(200, 989)}) {rng.randint(200, 989)}-{rng.randint(1000, 9999)}"


def address(rng: random.Random) -> str:
    return f"{rng.randint(10, 9999)} {rng.choice(LAST_NAMES)} Street, {rng.choice(CITIES)}, {rng.choice(STATES)}"


def title_case(text: str) -> str:
    return " ".join(w if w.isupper() else w.capitalize() for w in text.split())
