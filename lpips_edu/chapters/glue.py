"""A chapter's numbers into its prose (myst-nb's ``glue``), as plain numbers a format spec can read.

numpy 2 writes a numpy scalar as ``np.float64(0.5)``, and myst-nb formats
``{glue:text}`name:.1f``` by reading the number back from that text: it fails,
and the build stops on the warning. A Python float or int prints as a number.
"""

from __future__ import annotations


def plain(value):
    """A numpy scalar or a one-element tensor as a Python number; anything else unchanged."""
    import numpy as np
    import torch

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return value


def glue(name: str, variable, display: bool = True) -> None:
    """``myst_nb.glue`` with ``variable`` made plain first (see the module docstring)."""
    from myst_nb import glue as myst_glue

    myst_glue(name, plain(variable), display=display)
