"""Multi-SimLex: ``translation.csv`` as distributed, and the built-in list merged as the paper."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from conceptpatch.errors import LexiconError
from conceptpatch.lexicons.concepticon import load_concepticon_wide
from conceptpatch.lexicons.core import (
    DEFAULT_POS,
    Lexicon,
    language,
    log,
    normalise_word,
    open_table,
    require_columns,
)

__all__ = [
    "MULTISIMLEX_CODES",
    "MULTISIMLEX_LIST",
    "MULTISIMLEX_URL",
    "builtin_multisimlex",
    "load_multisimlex",
    "paper_merge",
    "read",
]

#: ISO 639-3 column prefixes of Multi-SimLex ``translation.csv`` -> the ISO 639 codes used here.
MULTISIMLEX_CODES: Mapping[str, str] = MappingProxyType(
    {
        "ENG": "en", "ARA": "ar", "CMN": "zh", "CYM": "cy", "EST": "et", "FIN": "fi",
        "FRA": "fr", "HEB": "he", "POL": "pl", "RUS": "ru", "SPA": "es", "SWA": "sw",
        "YUE": "yue",
    }
)  # fmt: skip

#: Where to get Multi-SimLex's ``translation.csv`` (not redistributed with conceptpatch).
MULTISIMLEX_URL = "https://multisimlex.com/"

#: The Multi-SimLex concept list shipped as package data (concepticon-data, CC-BY 4.0).
MULTISIMLEX_LIST = "Vulic-2020-2244.tsv"


def _multisimlex_column(header: str) -> tuple[str, int] | None:
    """``"ENG 1"`` (or ``ENG_1``) -> ``("ENG", 1)``; ``"scores 2"`` -> ``("scores", 2)``."""
    match = re.fullmatch(r"\s*(?P<base>[A-Za-z]+)[ _](?P<n>[12])\s*", header)
    return (match["base"], int(match["n"])) if match else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_multisimlex(
    path: str | Path,
    name: str = "multisimlex",
    pos: str | Sequence[str] | None = DEFAULT_POS,
) -> Lexicon:
    """Read Multi-SimLex ``translation.csv`` as distributed, processed as the paper's code does.

    The file has one row per *word pair* of the similarity data set: ``ID``, ``ENG 1``,
    ``ENG 2``, ``PoS``, ``ARA 1``, ``ARA 2``, ... (13 languages), ``scores 1``,
    ``translation 1``, ``scores 2``, ``translation 2``; ``1`` and ``2`` are two different words.
    The steps, each logged with its count (also in ``meta["steps"]``):

    1. ``stack``: the word-1 columns, then the word-2 columns, become one row per word (2 x
       pairs; this order decides which merged translation is the reference). The English
       word that names the concept is the paper's ``word_original``: the ``scores N`` column when
       it holds words (the paper's code reads it there), ``ENG N`` otherwise;
    2. ``drop_empty``: rows with an empty translation in any language are dropped;
    3. ``drop_conflicting_pos``: English words tagged with more than one PoS are dropped;
    4. ``merge``: rows of the same English word become one concept; their distinct translations
       are that concept's alternatives (each counts as ``exact``; there are no synonyms);
    5. ``pos``: only concepts of ``pos`` are kept (the paper's ``"nouns"``; None keeps all).
    """
    path = Path(path)
    if not path.exists():
        raise LexiconError(
            f"Multi-SimLex file {str(path)!r} does not exist: download translation.csv from"
            f" {MULTISIMLEX_URL} (Vulić et al., 2020; not redistributed with conceptpatch) and put"
            ' it at that path, or use builtin = "multisimlex" (the shipped concept list)'
        )
    header, rows = open_table(path, ",")
    parsed = {h: _multisimlex_column(h) for h in header}
    columns: dict[tuple[str, int], str] = {v: h for h, v in parsed.items() if v is not None}
    require_columns(
        path,
        [h.strip() for h in header],
        ("ID", "PoS"),
        "Multi-SimLex translation.csv (ID, ENG 1, ENG 2, PoS, ARA 1, ...)",
    )
    if ("ENG", 1) not in columns or ("ENG", 2) not in columns:
        raise LexiconError(
            f"lexicon file {str(path)!r} lacks the columns 'ENG 1' and 'ENG 2' of Multi-SimLex"
            f" translation.csv (it has {', '.join(header)}): use the file from {MULTISIMLEX_URL}"
            " or choose another format"
        )
    codes = {base: MULTISIMLEX_CODES[base] for base, _ in columns if base in MULTISIMLEX_CODES}
    id_col = next(h for h in header if h.strip() == "ID")
    pos_col = next(h for h in header if h.strip() == "PoS")
    steps: list[dict[str, Any]] = [{"step": "read", "rows": len(rows), "unit": "word pairs"}]

    def note(step: str, count: int, **extra: Any) -> None:
        steps.append({"step": step, "rows": count, **extra})
        log.info("%s: %s -> %d rows %s", name, step, count, extra or "")

    # 1. stack word 1 and word 2
    stacked: list[tuple[str, str, str, dict[str, str]]] = []  # (id, pos, english, {code: word})
    for n in (1, 2):  # all word-1 rows, then all word-2 rows (the paper's order)
        for r in rows:
            words = {
                code: normalise_word(r.get(columns.get((base, n), "")) or "")
                for base, code in codes.items()
            }
            key_col = columns.get(("scores", n))
            key = normalise_word(r.get(key_col) or "") if key_col else ""
            if not key or _is_number(key):
                key = words.get("en", "")
            stacked.append((r[id_col], normalise_word(r[pos_col] or ""), key, words))
    note("stack", len(stacked), unit="words")
    # 2. drop rows with an empty translation in any language
    kept = [s for s in stacked if s[2] and all(s[3].values())]
    note("drop_empty", len(kept), removed=len(stacked) - len(kept))
    # 3. drop English words with conflicting PoS
    tags: dict[str, set[str]] = {}
    for _, tag, key, _ in kept:
        tags.setdefault(key, set()).add(tag)
    conflicting = sorted(k for k, t in tags.items() if len(t) > 1)
    before = len(kept)
    kept = [s for s in kept if s[2] not in set(conflicting)]
    note("drop_conflicting_pos", len(kept), removed=before - len(kept), words=conflicting)
    # 4. merge rows of the same English word: translations become alternatives
    merged: dict[str, tuple[str, str, dict[str, list[str]]]] = {}
    repeats: dict[str, int] = {}
    for ident, tag, key, words in kept:
        repeats[key] = repeats.get(key, 0) + 1
        _, _, cells = merged.setdefault(key, (ident, tag, {code: [] for code in codes.values()}))
        for code, word in words.items():
            if word not in cells[code]:
                cells[code].append(word)
    several = sum(1 for _, _, cells in merged.values() if any(len(w) > 1 for w in cells.values()))
    note(
        "merge",
        len(merged),
        merged=sum(1 for n in repeats.values() if n > 1),
        with_alternatives=several,
    )
    # 5. keep the parts of speech asked for
    wanted = None if pos is None else {pos} if isinstance(pos, str) else set(pos)
    chosen = {k: v for k, v in merged.items() if wanted is None or v[1] in wanted}
    note("pos", len(chosen), pos=sorted(wanted) if wanted else "all")
    if not chosen:
        found = sorted({v[1] for v in merged.values()})
        raise LexiconError(
            f"Multi-SimLex file {str(path)!r} has no concept of part of speech {pos!r} after"
            f" processing: use one of its PoS tags {', '.join(found) or '(none)'}"
        )
    return Lexicon(
        name=name,
        languages=tuple(language(code) for code in codes.values()),
        table={
            k: {c: tuple(w) for c, w in cells.items() if w} for k, (_, _, cells) in chosen.items()
        },
        pos={k: tag for k, (_, tag, _) in chosen.items() if tag},
        exact={
            k: {c: len(w) for c, w in cells.items() if len(w) > 1}
            for k, (_, _, cells) in chosen.items()
        },
        meta={
            "source": str(path),
            "format": "multisimlex",
            "steps": steps,
            "ids": {k: ident for k, (ident, _, _) in chosen.items()},
        },
    )


def paper_merge(lexicon: Lexicon) -> Lexicon:
    """Multi-SimLex concepts merged as the paper merges them: one concept per English word.

    Concepts whose English reference word is tagged with several parts of speech are dropped;
    those of one part of speech become one concept (named by the first), their words merged
    into alternatives. Counts are appended to ``meta["steps"]``.
    """
    groups: dict[str, list[str]] = {}
    for concept, row in lexicon.table.items():
        english = row.get("en", ())
        groups.setdefault(english[0] if english else concept, []).append(concept)
    conflicting = sorted(
        key for key, members in groups.items() if len({lexicon.pos.get(m, "") for m in members}) > 1
    )
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    exact: dict[str, dict[str, int]] = {}
    pos: dict[str, str] = {}
    for key, members in groups.items():
        if key in conflicting:
            continue
        head = members[0]
        row: dict[str, list[str]] = {}
        for m in members:
            for code in lexicon.table[m]:
                cell = row.setdefault(code, [])
                cell.extend(w for w in lexicon.exact_words(m, code) if w not in cell)
        table[head] = {code: tuple(ws) for code, ws in row.items() if ws}
        exact[head] = {code: len(ws) for code, ws in row.items() if len(ws) > 1}
        if head in lexicon.pos:
            pos[head] = lexicon.pos[head]
    dropped = sum(len(groups[k]) for k in conflicting)
    steps = [
        *lexicon.meta.get("steps", []),
        {"step": "drop_conflicting_pos", "rows": len(lexicon.table) - dropped,
         "removed": dropped, "words": conflicting},
        {"step": "merge", "rows": len(table),
         "merged": sum(1 for k, m in groups.items() if len(m) > 1 and k not in conflicting)},
    ]  # fmt: skip
    for step in steps[-2:]:
        log.info("%s: %s -> %d concepts", lexicon.name, step["step"], step["rows"])
    return Lexicon(
        name=lexicon.name,
        languages=lexicon.languages,
        table=table,
        pos=pos,
        exact=exact,
        meta={**lexicon.meta, "steps": steps},
    )


@functools.cache
def builtin_multisimlex() -> Lexicon:
    """The built-in Multi-SimLex lexicon: the concept list ``Vulic-2020-2244`` shipped as package
    data (concepticon-data, CC-BY 4.0; Vulić et al., 2020), offline.

    12 languages (en, ar, zh, cy, et, fi, fr, he, pl, ru, es, yue; Swahili is only in
    ``translation.csv``), every part of speech (``pos``: nouns, verbs, adjectives, adverbs),
    errata applied, and concepts merged by English word as the paper merges ``translation.csv``
    rows (English words with conflicting parts of speech dropped).
    """
    from importlib.resources import as_file, files

    with as_file(files("conceptpatch") / "data" / MULTISIMLEX_LIST) as path:
        lexicon = load_concepticon_wide(path, name="multisimlex")
    merged = paper_merge(lexicon)
    return Lexicon(
        name=merged.name,
        languages=merged.languages,
        table=merged.table,
        pos=merged.pos,
        exact=merged.exact,
        meta={
            **merged.meta,
            "source": f"conceptpatch/data/{MULTISIMLEX_LIST}",
            "licence": "CC-BY 4.0 (concepticon-data; Vulić et al., 2020, Multi-SimLex)",
        },
    )


def read(path: Path, pos: str | Sequence[str] | None = None) -> Lexicon:
    """The registry's entry point for format ``multisimlex``: keeps the parts of speech ``pos``."""
    return load_multisimlex(path, pos=pos)
