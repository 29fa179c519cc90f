"""Exercises with automatic checks, used by the teaching notebooks.

    from seqgrad import exercises
    exercises.show("gru_reset_before")            # what to write
    exercises.check("gru_reset_before", my_step)  # ✓, or what is wrong and a hint
    exercises.hint("gru_reset_before")

Answers are plain values or numpy functions; each check compares them with the library
(layers, the engine's gradients, gradcheck) and names the usual mistakes. `names("04")` lists a
notebook's exercises.
"""

from . import char_rnn, elman, engine, gates, generated_bptt, practice, seq2seq, tagging, vanishing  # noqa: F401  (each registers its own)
from .core import EXERCISES, Exercise, Verdict, Wrong, check, hint, names, show

__all__ = ["EXERCISES", "Exercise", "Verdict", "Wrong", "check", "hint", "names", "show"]
