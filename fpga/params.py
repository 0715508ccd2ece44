"""Constructor arguments checked before the object exists, so a rejected one leaves nothing behind.

Amaranth warns (``UnusedElaboratable``) about every elaboratable that is made and never
elaborated; a constructor that rejects an argument after its object exists leaves such an
object, and the warning, behind. A class built on `CheckedArgs` defines ``check``, which takes
the constructor's arguments and raises what the constructor would reject; ``__new__`` runs it
first, so the constructor itself is only reached with arguments it accepts.
"""

from __future__ import annotations

__all__ = ["CheckedArgs"]


class CheckedArgs:
    """Mixin for elaboratables: ``cls.check(*args, **kwargs)`` runs before the object is made.

    List it before the Amaranth base class: ``class UARTRx(CheckedArgs, wiring.Component)``.
    """

    @classmethod
    def check(cls, *args, **kwargs) -> None:
        """Raise TypeError or ValueError for arguments the constructor would reject."""
        raise NotImplementedError(f"{cls.__name__} must define check()")

    def __new__(cls, *args, **kwargs):
        cls.check(*args, **kwargs)
        # Elaboratable records where each object was made, for its warning; with
        # src_loc_at=1 that is our caller, not this function.
        return super().__new__(cls, src_loc_at=1)
