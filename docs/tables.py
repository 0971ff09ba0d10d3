"""The tables of docs/real-models.md, from a results store: run it, paste nothing by hand.

    python docs/tables.py STORE

Prints markdown: the exact rate of C by first patched layer per source setting (pooled over the
seen output languages, then per output language), and the unpatched translation rate (the
model's own answer is D) per output language, each with its trial count.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from conceptpatch.results import Store


def markdown(frame: pd.DataFrame) -> str:
    """A pandas frame as a GitHub markdown table (index as the first column)."""
    frame = frame.reset_index()
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([head, rule, *body])


def _cell(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def exact_by_layer(results: pd.DataFrame, by_language: bool = False) -> pd.DataFrame:
    """Exact rate of C by first patched layer (rows) and setting (columns), seen outputs."""
    rows = results[(results["layer"] >= 0) & results["output_seen"].astype(bool)]
    keys = ["setting", "output_lang"] if by_language else ["setting"]
    rate = rows["category"].eq("exact").groupby([rows["layer"], *[rows[k] for k in keys]]).mean()
    table = rate.unstack(keys)
    if by_language:
        table.columns = [f"{s} {lang}" for s, lang in table.columns]
    n = rows.groupby(keys).size().min() // rows["layer"].nunique()
    table.index.name = f"layer (n≥{n} per column)"
    return table


def translation(results: pd.DataFrame) -> pd.DataFrame:
    """Unpatched rows: how often the model answers D (translates), copies, or says C."""
    base = results[results["setting"] == "unpatched"]
    cats = base["category"]
    return pd.DataFrame({
        "translates (D)": cats.eq("target").groupby(base["output_lang"]).mean(),
        "copies": cats.eq("copy").groupby(base["output_lang"]).mean(),
        "says C": cats.eq("exact").groupby(base["output_lang"]).mean(),
        "trials": base.groupby("output_lang").size(),
    }).rename_axis("output language")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="the results store (a folder or fsspec URL)")
    args = parser.parse_args(argv)
    results = Store(Path(args.store)).open().load()
    if results.empty:
        print(f"{args.store}: no rows", file=sys.stderr)
        return 1
    if (results["layer"] >= 0).any():
        print("Exact rate of C by first patched layer, seen output languages pooled:\n")
        print(markdown(exact_by_layer(results)))
        print("\nBy output language:\n")
        print(markdown(exact_by_layer(results, by_language=True)))
        print()
    print("Unpatched answers by output language:\n")
    print(markdown(translation(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
