"""Errors seqgrad raises, each a subclass of the builtin a user would catch."""


class ShapeError(ValueError):
    """Shapes that do not fit an op; the message names the op, the shapes and the scope."""


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with finite differences."""


class StateDictError(ValueError):
    """A state dict that does not fit: every missing or unexpected key and wrong shape, listed."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read safely, or does not fit the model."""


class ExportError(ValueError):
    """A module seqgrad cannot export (a layer without a torch twin, an op without a torch mapping)."""
