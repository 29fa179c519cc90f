"""Ready-made models built on seqgrad.nn: a character-level language model and its sampler, and a
sequence-to-sequence encoder-decoder with attention."""

from .char_lm import LM_CELLS, CharLM, sample
from .seq2seq import Decoding, Seq2Seq, load_checkpoint, save_checkpoint, translate

__all__ = ["CharLM", "sample", "LM_CELLS", "Seq2Seq", "Decoding", "translate", "save_checkpoint", "load_checkpoint"]
