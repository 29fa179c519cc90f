"""Errors of seqgrad.data, each a subclass of the builtin a user would catch."""


class NotFittedError(RuntimeError):
    """A scaler or tokenizer used before `fit` gave it its statistics or vocabulary."""


class DataFileError(ValueError):
    """A saved vocabulary or tokenizer file that is not valid JSON or not the expected content; names the file."""
