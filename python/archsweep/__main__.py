"""``python -m archsweep``: the command line."""

from .cli import run

if __name__ == "__main__":  # importing this module (stubtest, pydoc) runs nothing
    run()
