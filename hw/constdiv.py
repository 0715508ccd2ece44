"""Division by a constant, as a multiply and a shift: the quotient by a PE count that is not a
power of two, without a divider's long carry chains.

Used where a value is split by the PE count: the sequencer's rows per PE and the command
engine's activation index -> (PE, slot) (whose remainder is ``index - quotient * n``, from
the quotient registered). The helpers take Python ints as well as Amaranth
values, so the tests check the same arithmetic the hardware builds.
"""

__all__ = ["reciprocal", "divide_by_constant"]


def reciprocal(n: int, x_max: int) -> tuple[int, int]:
    """``(mul, shift)`` with ``(x * mul) >> shift == x // n`` for every ``0 <= x <= x_max``.

    ``mul = ceil(2**shift / n)`` overshoots ``2**shift / n`` by ``e / n`` with ``e < n``, so
    the quotient is exact while ``x * e < 2**shift``, which ``2**shift > x_max * n`` ensures.
    """
    if n < 1 or x_max < 0:
        raise ValueError(f"reciprocal needs n >= 1 and x_max >= 0, got n={n}, x_max={x_max}")
    shift = (x_max * n).bit_length()
    return -(-(1 << shift) // n), shift


def divide_by_constant(value, n: int, x_max: int):
    """``value // n`` for a ``value`` of at most ``x_max``, as a multiply and a shift."""
    mul, shift = reciprocal(n, x_max)
    return (value * mul) >> shift

