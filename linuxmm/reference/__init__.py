"""Pure-Python reference models: the same API and results as the C-backed classes."""
from .buddy import BuddyAllocator

__all__ = ["BuddyAllocator"]
