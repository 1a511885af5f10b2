"""The PyNvVideoCodec stand-in as an importable package, for processes the tests start.

The capabilities probe asks each GPU from a child process; the tests put this
folder on the child's path and describe the stand-in in ``FARM_FAKE_NVC``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/gpu, for fake_nv

import fake_nv  # noqa: E402

print("[PyNvVideoCodec] stand-in loaded")  # the library talks on stdout too
globals().update({k: v for k, v in vars(fake_nv.from_env()).items() if not k.startswith("__")})
