"""Counter-based randomness for the seed: every value is a pure function of (seed, stream, index).

That is what lets the two CRM halves be generated apart, in any batch size, and still agree.
"""

from __future__ import annotations

import hashlib

import numpy as np

U64 = np.uint64
_MIX1, _MIX2, _GOLDEN = U64(0xBF58476D1CE4E5B9), U64(0x94D049BB133111EB), U64(0x9E3779B97F4A7C15)


def stream_key(seed: int, name: str) -> int:
    """A stable 64-bit key for one random stream (Python's hash() changes between processes)."""
    return int.from_bytes(hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=8).digest(), "little")


def mix(key: int, idx: np.ndarray) -> np.ndarray:
    """splitmix64 of index + key: uniform 64-bit values, one per index."""
    z = idx.astype(U64) * _GOLDEN + U64(key)
    z ^= z >> U64(30)
    z *= _MIX1
    z ^= z >> U64(27)
    z *= _MIX2
    z ^= z >> U64(31)
    return z


class Draw:
    """Counter-based randomness: the value for (stream, index) never depends on batch boundaries or call order."""

    def __init__(self, seed: int):
        self.seed = seed
        self._keys: dict[str, int] = {}

    def bits(self, stream: str, idx: np.ndarray) -> np.ndarray:
        key = self._keys.get(stream)
        if key is None:
            key = self._keys[stream] = stream_key(self.seed, stream)
        return mix(key, idx)

    def unit(self, stream: str, idx: np.ndarray) -> np.ndarray:
        """Floats in [0, 1)."""
        return (self.bits(stream, idx) >> U64(11)).astype(np.float64) * (1.0 / (1 << 53))

    def below(self, stream: str, idx: np.ndarray, n: int) -> np.ndarray:
        return (self.bits(stream, idx) % U64(max(n, 1))).astype(np.int64)

    def weighted(self, stream: str, idx: np.ndarray, weights) -> np.ndarray:
        """Indices into weights, drawn in proportion to them."""
        cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
        return np.searchsorted(cumulative / cumulative[-1], self.unit(stream, idx), side="right")


class Permutation:
    """A keyed bijection of [0, n): a 4-round Feistel network on the next even power of two, cycle-walked into range."""

    def __init__(self, n: int, key: int):
        self.n = n
        bits = max(2, (n - 1).bit_length())
        bits += bits % 2
        self.half = U64(bits // 2)
        self.mask = U64((1 << (bits // 2)) - 1)
        self.keys = [stream_key(key, f"round{i}") for i in range(4)]

    def _once(self, x: np.ndarray) -> np.ndarray:
        left, right = x >> self.half, x & self.mask
        for key in self.keys:
            left, right = right, left ^ (mix(key, right) & self.mask)
        return (left << self.half) | right

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        out = self._once(np.asarray(idx, dtype=U64))
        outside = out >= U64(self.n)
        while outside.any():
            out[outside] = self._once(out[outside])
            outside = out >= U64(self.n)
        return out.astype(np.int64)


def spread(j: np.ndarray, base: int, count: int) -> np.ndarray:
    """The j-th of count evenly spread, distinct positions in [0, base) (count <= base)."""
    return (j * base) // max(count, 1)


def is_spread_target(r: np.ndarray, base: int, count: int) -> np.ndarray:
    """Whether position r is one that spread(j, base, count) picks for some j < count."""
    if count == 0:
        return np.zeros(len(r), dtype=bool)
    j = -((-r * count) // base)  # ceil(r * count / base)
    return (j < count) & ((j * base) // count == r)
