"""A hypothesis strategy shared by the fuzz tests: real bytes with a few bytes flipped, cut or spliced in."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st


@st.composite
def mutated(draw: st.DrawFn, samples: Sequence[bytes], max_edits: int = 4, max_span: int = 64) -> bytes:
    """One of `samples` after up to `max_edits` flips, cuts (up to `max_span` bytes) or insertions."""
    data = bytearray(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(1, max_edits))):
        pos = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[pos : pos + draw(st.integers(1, max_span))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=max(1, max_span // 4)))
        if not data:
            break
    return bytes(data)
