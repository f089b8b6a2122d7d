"""``python -m archsweep``: the command line."""

from .cli import main

if __name__ == "__main__":  # importing this module (stubtest, pydoc) runs nothing
    raise SystemExit(main())
