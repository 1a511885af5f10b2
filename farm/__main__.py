"""``python -m farm``: the ``farm`` command line."""

from farm.cli import entry

if __name__ == "__main__":
    entry()
