"""The exceptions archsweep raises. Each also derives from the builtin a caller
would catch without knowing archsweep (ValueError, TypeError, OverflowError)."""


class ArchsweepError(Exception):
    """Base class of every error archsweep raises on purpose."""


class InvalidArgumentError(ArchsweepError, ValueError):
    """An argument has the right type but a value that is not allowed."""


class ArgumentTypeError(ArchsweepError, TypeError):
    """An argument has a type that is not allowed."""


class ParamOverflowError(ArchsweepError, OverflowError):
    """A parameter count does not fit in int64."""


class SweepTooLargeError(InvalidArgumentError):
    """A sweep's table would exceed ``max_bytes``."""


def optional(module: str, extra: str, what: str) -> object:
    """The optional dependency ``module``, or an ImportError saying how to install it
    (``pip install 'archsweep[<extra>]'``); ``what`` names what needs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{what} needs {module}: pip install 'archsweep[{extra}]'") from None
