"""Prompts: the k-shot format of the contract, example sampling, templates, the query position.

(c) is a property over arbitrary words in any script: the query position is the last token that
covers the query word, under left and right padding, for a byte-level BPE trained on the fly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conceptpatch.engine.capture import encode
from conceptpatch.engine.checkpoints import wrap_model
from conceptpatch.engine.positions import query_positions, word_token_spans
from conceptpatch.errors import ConceptPatchError, PromptError
from conceptpatch.lexicons import Language, Lexicon
from conceptpatch.prompts import DEFAULT_TEMPLATE, Pair, Template, build_prompt, sample_examples
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.random import tiny_model, train_bpe
from hypothesis import given, settings
from hypothesis import strategies as st

SCRIPTS = {
    "latin": "aeiouAEIOUbcdfghxyzßéèçñøåÆŒ",
    "cyrillic": "абвгдежзийклмнопрстуфхцчшщыэюяЁЖ",
    "greek": "αβγδεζηθλμξπρσςτφχψω",
    "cjk": "水火山川日月人口中国語学生猫犬",
    "japanese": "あいうえおかきくアイウエオ",
    "hangul": "한국어가나다라",
    "arabic": "العربيةكتابمدرسة",
    "hebrew": "אבגדהוזחטי",
    "devanagari": "हिन्दीभाषा",
    "thai": "ภาษาไทย",
    "emoji": "🐶🐱🏠🌳💧☀🌙📚🍎👍🏽👨‍👩‍👧",
    "marks": "\u0301\u0308\u200d\ufe0f",  # combining accents, zero-width joiner, variation selector
    "other": "0123456789-'’.,!?()&·_/ ",
}
ALPHABET = "".join(SCRIPTS.values())


def _lexicon(words: dict[str, dict[str, str]], names: dict[str, str] | None = None) -> Lexicon:
    """A lexicon straight from ``{concept: {code: word}}`` (no normalisation of the words)."""
    names = names or {"en": "English", "fr": "Français", "de": "Deutsch"}
    codes = sorted({code for row in words.values() for code in row})
    return Lexicon(
        name="t",
        languages=tuple(Language(code, names[code]) for code in codes),
        table={c: {code: (w,) for code, w in row.items()} for c, row in words.items()},
    )


FRUIT = _lexicon(
    {
        "apple": {"en": "apple", "fr": "pomme", "de": "Apfel"},
        "dog": {"en": "dog", "fr": "chien", "de": "Hund"},
        "cat": {"en": "cat", "fr": "chat", "de": "Katze"},
        "house": {"en": "house", "fr": "maison", "de": "Haus"},
    }
)


def test_default_prompt_format_is_the_contracts():
    """Example lines, then the query line cut right after the answer's opening quote."""
    prompt = build_prompt(FRUIT, "apple", Pair("fr", "de"), ["dog", "cat"])
    assert prompt.text == (
        'Français: "chien" - Deutsch: "Hund"\n'
        'Français: "chat" - Deutsch: "Katze"\n'
        'Français: "pomme" - Deutsch: "'
    )
    assert prompt.text[slice(*prompt.span)] == "pomme" == prompt.word
    assert (prompt.concept, prompt.pair) == ("apple", Pair("fr", "de"))
    assert prompt.examples == ("dog", "cat")
    assert str(prompt.pair) == "fr-de"
    assert DEFAULT_TEMPLATE == '{input_name}: "{input_word}" - {output_name}: "{output_word}"'


def test_zero_shot_prompt_is_the_query_line():
    prompt = build_prompt(FRUIT, "dog", Pair("en", "fr"), [])
    assert prompt.text == 'English: "dog" - Français: "'
    assert prompt.span == (10, 13)


def test_custom_template_and_separator():
    template = Template("{input_word} ({input_name}) = {output_name}: {output_word}", " | ")
    prompt = build_prompt(FRUIT, "cat", Pair("en", "de"), ["dog"], template)
    assert prompt.text == "dog (English) = Deutsch: Hund | cat (English) = Deutsch: "
    assert prompt.text[slice(*prompt.span)] == "cat"


def test_examples_must_not_include_the_query():
    with pytest.raises(PromptError, match="sample_examples"):
        build_prompt(FRUIT, "dog", Pair("en", "fr"), ["cat", "dog"])


@pytest.mark.parametrize(
    "line",
    [
        '{input_name}: "{input_word}" - {output_name}: "',  # no output_word
        '{input_name}: "{input_word}" - {output_name}: "{output_word}" {input_word}',  # twice
        '{output_word} {input_name}: "{input_word}" - {output_name}',  # output_word not last
        '{input_name}: "{input_word}" - {language}: "{output_word}"',  # unknown field
        '{input_name}: "{input_word" - {output_name}: "{output_word}"',  # malformed braces
        "{input_word} {output_word}",  # no names
        '{output_word} {input_name}: "{input_word}" - {output_name}: "{output_word}"',  # twice
    ],
)
def test_bad_templates_are_refused(line):
    with pytest.raises(PromptError, match="fix") as info:
        Template(line)
    assert isinstance(info.value, ConceptPatchError)
    assert "\n" not in str(info.value)


def test_template_may_close_the_quote():
    assert Template('{input_name}: "{input_word}" - {output_name}: "{output_word}"').line


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 12),
    k=st.integers(0, 12),
    excluded=st.sets(st.integers(0, 11), max_size=4),
)
def test_examples_never_include_the_query(seed, n, k, excluded):
    """Drawn examples are distinct, from the pool, never excluded; same seed, same draw."""
    concepts = tuple(f"c{i}" for i in range(n))
    exclude = [f"c{i}" for i in excluded]
    available = n - len([c for c in exclude if c in concepts])
    if k > available:
        with pytest.raises(PromptError, match=r"prompt\.k"):
            sample_examples(concepts, k, exclude, np.random.default_rng(seed))
        return
    drawn = sample_examples(concepts, k, exclude, np.random.default_rng(seed))
    assert len(drawn) == len(set(drawn)) == k
    assert set(drawn) <= set(concepts) - set(exclude)
    assert drawn == sample_examples(concepts, k, exclude, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def bpe():
    """A byte-level BPE fast tokenizer trained on prompt lines in many scripts."""
    words = [SCRIPTS[s][i : i + 3] for s in SCRIPTS for i in range(0, len(SCRIPTS[s]), 2)]
    pairs = zip(words, words[1:] + words[:1], strict=True)
    texts = [f'English: "{a}" - Français: "{b}"\n' for a, b in pairs]
    return train_bpe(texts * 3, vocab_size=400)


words = st.text(alphabet=ALPHABET, min_size=1, max_size=12).filter(
    lambda w: w == w.strip() and w.strip()
)


def _check_positions(text: str, span: tuple[int, int], offsets: torch.Tensor, q: int) -> None:
    """The token at ``q`` is the word's last token that ends within it (`conceptpatch.prompts`):
    the next real token starts at or after the word's end, or is the one BPE merged with the
    closing quote (it covers the word's end). A word with no token of its own (all merged with
    the quote) takes the merged token."""
    start, end = span
    tok_start, tok_end = (int(x) for x in offsets[q])
    assert tok_start < end and tok_end > start, (text[start:end], text[tok_start:tok_end])
    rest = [(int(a), int(b)) for a, b in offsets[q + 1 :].tolist() if b > a]
    if tok_end <= end:
        if rest:
            after_start, after_end = rest[0]
            assert after_start >= end or after_end > end, (text[start:end], text[after_start:])
    else:  # the fallback: the merged token is the word's only one
        assert tok_start <= start, (text[start:end], text[tok_start:tok_end])


@settings(max_examples=80, deadline=None)
@given(
    query=words,
    examples=st.lists(words, min_size=0, max_size=2),
    other=words,
    side=st.sampled_from(["left", "right"]),
)
def test_query_position_ends_exactly_at_the_query_word(bpe, query, examples, other, side):
    """(c) For any word in any script, the query position is the word's last token."""
    table = {"q": {"en": query, "fr": "x"}, "o": {"en": other, "fr": "y"}}
    table |= {f"e{i}": {"en": w, "fr": w[::-1]} for i, w in enumerate(examples)}
    lexicon = _lexicon(table)
    ex = [f"e{i}" for i in range(len(examples))]
    prompts = [
        build_prompt(lexicon, "q", Pair("en", "fr"), ex),
        build_prompt(lexicon, "o", Pair("en", "fr"), []),  # a shorter row: padding
    ]
    assert prompts[0].text[slice(*prompts[0].span)] == query
    bpe.padding_side = side
    enc = bpe(
        [p.text for p in prompts], padding=True, return_tensors="pt", return_offsets_mapping=True
    )
    positions = query_positions(enc["offset_mapping"], [p.span for p in prompts])
    for b, prompt in enumerate(prompts):
        _check_positions(prompt.text, prompt.span, enc["offset_mapping"][b], int(positions[b]))
        first = int(word_token_spans(enc["offset_mapping"], [p.span for p in prompts])[b, 0])
        assert int(enc["offset_mapping"][b, first, 0]) <= prompt.span[0]


@pytest.fixture(scope="module")
def bpe_lm(bpe):
    """The many-script tokenizer bundled with a one-layer model, as `encode` expects."""
    model = tiny_model("llama", len(bpe), layers=1, hidden=16)
    return wrap_model(Checkpoint("bpe", path="."), model, bpe)


@settings(max_examples=40, deadline=None)
@given(query=words, width=st.integers(1, 4))
def test_encode_reads_the_query_word_from_its_end(bpe_lm, query, width):
    """(c) `encode` positions: the last column is the query position, earlier ones the word's."""
    lexicon = _lexicon({"q": {"en": query, "fr": "x"}, "o": {"en": "o", "fr": "y"}})
    prompts = [build_prompt(lexicon, c, Pair("en", "fr"), []) for c in ("q", "o")]
    bpe_lm.tokenizer.padding_side = "left"
    batch = encode(bpe_lm, prompts, width)
    enc = bpe_lm.tokenizer(
        [p.text for p in prompts], padding=True, return_tensors="pt", return_offsets_mapping=True
    )
    assert torch.equal(batch.input_ids, enc["input_ids"])
    for b, prompt in enumerate(prompts):
        row = batch.positions[b].tolist()
        _check_positions(prompt.text, prompt.span, enc["offset_mapping"][b], row[-1])
        valid = [q for q in row if q >= 0]
        assert valid == list(range(row[-1] - len(valid) + 1, row[-1] + 1))
        assert row[: width - len(valid)] == [-1] * (width - len(valid))
        start, end = prompt.span
        for q in valid:  # every read token overlaps the word
            a, z = (int(x) for x in enc["offset_mapping"][b, q])
            assert a < end and z > start


def test_uncovered_span_is_a_prompt_error():
    offsets = torch.tensor([[[0, 3], [3, 5], [0, 0]]])
    with pytest.raises(PromptError, match="fast tokenizer"):
        word_token_spans(offsets, [(5, 7)])
