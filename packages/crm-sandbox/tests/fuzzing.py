"""What the sandboxes' property-based tests share: the number of examples per route and arbitrary JSON values."""

from __future__ import annotations

import os

from hypothesis import strategies as st

# Examples per route: 8 in the suite; SANDBOX_FUZZ_EXAMPLES=60 (or more) for a longer search.
EXAMPLES = int(os.environ.get("SANDBOX_FUZZ_EXAMPLES", "8"))

# Any JSON value: scalars of every kind (integers past 64 bits), and small lists and objects of them.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)
