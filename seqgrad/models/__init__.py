"""Ready-made models built on seqgrad.nn: a character-level language model and its sampler."""

from .char_lm import LM_CELLS, CharLM, sample

__all__ = ["CharLM", "sample", "LM_CELLS"]
