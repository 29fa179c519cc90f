"""Training loops built on seqgrad: the character-level language model and the classic sequence tasks."""

from .lm_checkpoint import load_char_lm, save_char_lm
from .lm_trainer import TrainConfig, TrainHistory, bits, evaluate_char_lm, train_char_lm

__all__ = ["TrainConfig", "TrainHistory", "bits", "train_char_lm", "evaluate_char_lm", "save_char_lm",
           "load_char_lm"]
