"""Ask one GPU's NVDEC and NVENC what they handle, in a process of its own.

Run by :func:`farm.backends.capabilities.video_engines` as
``python -m farm.backends.nvidia.gpu_caps`` with ``CUDA_VISIBLE_DEVICES``
naming the one GPU to ask; prints one JSON object on stdout, on a line that
starts with :data:`MARKER`. Why a process:

* PyNvVideoCodec's ``GetDecoderCaps``/``GetEncoderCaps`` ignore ``gpuid`` and
  always ask device 0, so each GPU is asked by a process that sees only it;
* ``GetEncoderCaps`` on a GPU without NVENC (H100, H200, A100) creates a CUDA
  context, fails to open an encode session and throws without popping or
  destroying that context. In the worker that foreign context would stay
  current, the decoder would refuse farm's CuPy stream (it belongs to the
  primary context) and the context's memory would leak. The process that
  asked ends, and its contexts with it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

#: starts the line that holds the answer
MARKER = "farm-gpu-caps: "

#: What NVDEC can decode at all: (codec, bits) of 4:2:0 progressive streams without alpha, the
#: formats :data:`farm.backends.nvidia.codec.DECODE_PROBES` asks each GPU about. A GPU's own answer
#: narrows it (Hopper's NVDEC has no AV1); anything else decodes on the CPU for that segment.
NVDEC_FORMATS = frozenset({("h264", 8), ("hevc", 8), ("hevc", 10), ("av1", 8), ("av1", 10), ("vp9", 8)})

#: FFmpeg decoder names (what the probe records) of the codecs NVDEC knows by another name
DECODER_CODECS = {"libdav1d": "av1", "libaom-av1": "av1", "av1_cuvid": "av1", "libvpx-vp9": "vp9"}


def cpu_decode_reason(
    codec: str,
    bits: int,
    chroma: str,
    field_order: str,
    alpha: bool,
    gpu_answer: dict[str, bool] | None = None,
) -> str | None:
    """Why a source must be decoded on the CPU rather than by NVDEC, or None when NVDEC decodes it.

    ``gpu_answer`` maps NVDEC's labels (``"hevc 10-bit 4:2:0"``) to what the
    GPU at hand said; a format it was not asked about, or without an answer,
    follows :data:`NVDEC_FORMATS`. ``codec`` is the probe's decoder name
    (``libdav1d`` reads as ``av1``). An unknown codec name (``""``) is tried on
    NVDEC, as before: the decoder then reports what it cannot read.
    """
    if alpha:
        return "the source has an alpha channel (NVDEC drops it)"
    if field_order not in ("progressive", ""):
        return f"the source is interlaced ({field_order}): bwdif runs on the CPU"
    if not codec:
        return None
    codec = DECODER_CODECS.get(codec, codec)
    if codec not in {name for name, _ in NVDEC_FORMATS}:
        return f"NVDEC does not decode {codec}"
    if chroma not in ("4:2:0", "gray"):
        return f"NVDEC decodes 4:2:0 only, the source is {codec} {chroma}"
    depth = 8 if bits <= 8 else bits
    label = f"{codec} {depth}-bit 4:2:0"
    if gpu_answer is not None and label in gpu_answer:
        return None if gpu_answer[label] else f"this GPU's NVDEC does not decode {label}"
    if (codec, depth) not in NVDEC_FORMATS:
        return f"NVDEC does not decode {label}"
    return None


def _error(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def ask() -> dict[str, Any]:
    """``{"nvdec": [...], "nvenc": [...]}``: per codec the driver's answer or the error."""
    from farm.backends.nvidia import codec

    codec.pynvvideocodec()  # one error for all when the library does not load
    answer: dict[str, Any] = {"nvdec": [], "nvenc": []}
    for name, bits in codec.DECODE_PROBES:
        try:
            answer["nvdec"].append({"codec": name, "bits": bits, "caps": codec.decoder_caps(0, name, bits)})
        except Exception as exc:
            answer["nvdec"].append({"codec": name, "bits": bits, "error": _error(exc)})
    for name in codec.ENCODE_PROBES:  # last: a failure may leave this process's CUDA state broken
        try:
            answer["nvenc"].append({"codec": name, "caps": codec.encoder_caps(0, name)})
        except Exception as exc:
            answer["nvenc"].append({"codec": name, "error": _error(exc)})
    return answer


def main() -> int:
    try:
        answer = ask()
    except Exception as exc:  # PyNvVideoCodec does not load in this process
        answer = {"error": _error(exc)}
    # on a line of its own, after a marker: the library may print its own lines on stdout
    sys.stdout.write(f"\n{MARKER}{json.dumps(answer)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
