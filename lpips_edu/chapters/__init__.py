"""Helpers that only the book's notebooks call: the page's start, figures, glued numbers, training plumbing.

What a chapter teaches is written in its own cells; what is here would only
distract a reader (figure grids, tables, checkpoint bookkeeping).
"""
