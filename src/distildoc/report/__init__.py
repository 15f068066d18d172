"""Result tables for the report: generic writers (`tables`) and the paper's DIC tables (`dic`)."""

from .dic import load_runs, table6, table9, table15, tables10_12, tables18_19, write_dic_tables
from .tables import aggregate_seeds, best_mask, format_mean_std, latex_escape, write_table

__all__ = [
    "aggregate_seeds",
    "best_mask",
    "format_mean_std",
    "latex_escape",
    "load_runs",
    "table6",
    "table9",
    "table15",
    "tables10_12",
    "tables18_19",
    "write_dic_tables",
    "write_table",
]
