"""What a notebook does before its first step: run sizes, seed, figure style, one line that says so.

Every page starts the same way, and a reader of the built book must see which
profile the numbers on the page come from; one call keeps the pages alike.
"""

from __future__ import annotations

from ..profiles import Profile, describe, get_profile, seed_everything
from .plotting import use_book_style


def start(profile: str = "auto", seed: int = 0) -> Profile:
    """The profile's run sizes, with every generator seeded and the book's figure style on; prints them."""
    chosen = get_profile(profile)
    seed_everything(seed)
    use_book_style()
    print(describe(chosen))
    return chosen
