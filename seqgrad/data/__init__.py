"""Data for recurrent networks: tokenizers, padding and batches, windows, scalers, generated tasks, a corpus.

Plain numpy: everything here returns numpy arrays, time-major (T, N, ...) by default like
PyTorch's recurrent layers, with a `batch_first` flag where a layout is chosen. Whatever is
random takes `seed` (a fresh generator) or `rng` (a numpy Generator); with neither it draws
from seqgrad's generator, which `seqgrad.manual_seed` resets.
"""

from .batching import IGNORE_INDEX, Batch, LanguageModelBatches, batches, char_lm_batches, pad_sequences
from .corpus import STDLIB_CORPUS_MODULES, stdlib_corpus, unigram_bits_per_char
from .dates import DATE_FORMATS, dates_task, format_date
from .encoding import one_hot
from .errors import DataFileError, NotFittedError
from .reber import (
    REBER_ALPHABET,
    reber_accepts,
    reber_encode,
    reber_next_symbol_mask,
    reber_next_symbols,
    reber_strings,
)
from .scalers import MinMaxScaler, StandardScaler
from .series import mackey_glass, sine_series
from .tasks import adding_problem, copy_task
from .tokenizers import CharTokenizer, WordTokenizer
from .translation import TranslationTask, UnencodableTextError, reversal_task, sorting_task
from .vocab import Vocabulary
from .windows import sliding_windows

__all__ = [
    "Vocabulary", "CharTokenizer", "WordTokenizer",
    "pad_sequences", "batches", "Batch", "char_lm_batches", "LanguageModelBatches", "IGNORE_INDEX",
    "sliding_windows", "MinMaxScaler", "StandardScaler", "NotFittedError", "DataFileError", "one_hot",
    "adding_problem", "copy_task", "sine_series", "mackey_glass",
    "REBER_ALPHABET", "reber_strings", "reber_accepts", "reber_next_symbols", "reber_next_symbol_mask",
    "reber_encode", "stdlib_corpus", "unigram_bits_per_char", "STDLIB_CORPUS_MODULES",
    "TranslationTask", "UnencodableTextError", "dates_task", "reversal_task", "sorting_task", "DATE_FORMATS",
    "format_date",
]
