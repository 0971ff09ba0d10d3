"""Roomy cache layers hold what transformers' dynamic layers hold, whatever the operations.

Random sequences of appends (within and beyond the reserved room), row selections, crops and
repeats applied to a `RoomyLayer` and to a `DynamicLayer` leave the same keys and values.
"""

from __future__ import annotations

import torch
from conceptpatch.engine.kvcache import RoomyLayer, buffer_like, roomy_cache
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers.cache_utils import DynamicLayer

operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 4)),
        st.tuples(st.just("select"), st.integers(0, 2**16)),
        st.tuples(st.just("crop"), st.integers(1, 2)),
        st.tuples(st.just("repeat"), st.integers(1, 2)),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(rows=st.integers(1, 4), start=st.integers(1, 5), room=st.integers(0, 6), ops=operations)
def test_a_roomy_layer_holds_what_a_dynamic_layer_holds(rows, start, room, ops):
    g = torch.Generator().manual_seed(rows * 100 + start * 10 + room)
    keys, values = (torch.randn(rows, 2, start, 3, generator=g) for _ in range(2))
    plain = DynamicLayer()
    plain.update(keys, values)
    buffers = [buffer_like(keys, rows, start + room) for _ in range(2)]
    for buffer, filled in zip(buffers, (keys, values), strict=True):
        buffer[..., :start, :] = filled
    roomy = RoomyLayer(*buffers, start)
    for op, arg in ops:
        n, length = plain.keys.shape[0], plain.keys.shape[-2]
        if op == "append":
            new = [torch.randn(n, 2, arg, 3, generator=g) for _ in range(2)]
            got, want = roomy.update(*new), plain.update(*new)
            assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))
        elif op == "select":
            keep = torch.tensor(sorted({arg % n, (arg // 7) % n}))
            roomy.batch_select_indices(keep)
            plain.batch_select_indices(keep)
        elif op == "crop" and length > arg:
            roomy.crop(-arg)
            plain.crop(-arg)
        elif op == "repeat":
            roomy.batch_repeat_interleave(arg)
            plain.batch_repeat_interleave(arg)
        assert torch.equal(roomy.keys, plain.keys) and torch.equal(roomy.values, plain.values)
        assert roomy.get_seq_length() == plain.get_seq_length()


def test_a_roomy_cache_answers_for_its_layers():
    keys = torch.zeros(1, 1, 2, 4)
    layers = [RoomyLayer(buffer_like(keys, 1, 5), buffer_like(keys, 1, 5), 2) for _ in range(3)]
    cache = roomy_cache(layers)
    cache.update(torch.ones(1, 1, 1, 4), torch.ones(1, 1, 1, 4), 1)
    assert [cache.get_seq_length(i) for i in range(3)] == [2, 3, 2]
