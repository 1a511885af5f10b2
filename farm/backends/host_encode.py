"""libx264/libx265 on the host: the one encoder of the ``cpu`` and ``nvdec+cpu`` families.

The CPU backend feeds it frames from its libavfilter graph; the nvidia backend
on GPUs without NVENC feeds it frames copied from the device once, after
scaling. Either way the segment is opened with the same settings — IDR first,
closed GOPs of a fixed length, BT.709 limited range — so segments of one
output concatenate, and every decoded picture is written as many times as the
schedule repeats it, with consecutive timestamps, then the count is checked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.container import OutputContainer
from av.video.stream import VideoStream

from farm.backends.schedule import check_frame_count
from farm.output.spans import StageClock, current_clock, optional_stage
from farm.planning.units import EncodeSpec, SegmentJob

#: EncodeSpec.codec -> the libavcodec encoder
ENCODERS: dict[str, Literal["libx264", "libx265", "prores_ks", "dnxhd"]] = {
    "h264": "libx264",
    "hevc": "libx265",
    "prores": "prores_ks",
    "prores4444": "prores_ks",
    "dnxhr": "dnxhd",
}
#: the colour tags (H.273 code points: primaries, transfer, matrix) of each output transfer
TAGS = {"sdr": (1, 1, 1), "pq": (9, 16, 9), "hlg": (9, 18, 9)}
#: x265's names for them (its VUI)
_X265_VUI = {"pq": "colorprim=bt2020:transfer=smpte2084", "hlg": "colorprim=bt2020:transfer=arib-std-b67"}
#: the mastering display of an HDR10 output: BT.2020 primaries and D65 white in x265's units (0.00002)
_BT2020_DISPLAY = "G(8500,39850)B(6550,2300)R(35400,14600)WP(15635,16450)"


#: threads per codec when ``FARM_CODEC_THREADS`` is unset (0: the codec decides); a warm worker
#: sets it to its share of the node's cores (see :func:`set_default_threads`)
_default_threads = 0


def set_default_threads(count: int) -> None:
    """This process's codecs and filter graphs use ``count`` threads each (0: they decide)."""
    global _default_threads
    _default_threads = max(0, count)


def codec_threads() -> int:
    """Threads each decoder, encoder and filter graph of one worker may use (0: the codec decides).

    ``FARM_CODEC_THREADS`` overrides it; otherwise a warm worker's share of its
    node's cores (:func:`set_default_threads`), else what the codec sizes itself to.
    """
    try:
        return max(0, int(os.environ.get("FARM_CODEC_THREADS", "")))
    except ValueError:
        return _default_threads


def encoder_name(spec: EncodeSpec) -> Literal["libx264", "libx265", "prores_ks", "dnxhd"]:
    """The libavcodec encoder that writes ``spec``'s codec."""
    return ENCODERS[spec.codec]


def open_encoder(container: OutputContainer, spec: EncodeSpec) -> VideoStream:
    """An encoder whose segments can be concatenated: IDR first, closed GOPs, fixed GOP length."""
    stream = container.add_stream(encoder_name(spec), rate=spec.fps)
    stream.width = spec.width
    stream.height = spec.height
    stream.pix_fmt = spec.pix_fmt
    stream.time_base = Fraction(spec.fps.denominator, spec.fps.numerator)
    cc = stream.codec_context
    cc.color_primaries, cc.color_trc, cc.colorspace = TAGS[spec.transfer]  # BT.709, or BT.2020 PQ/HLG
    cc.color_range = 1  # limited ("tv")
    cc.thread_type = "AUTO"
    cc.thread_count = codec_threads()
    gop = str(spec.gop)
    options = {"crf": str(spec.quality), "preset": spec.preset, "g": gop}
    if spec.codec in ("prores", "prores4444"):
        # ProRes 422 HQ or 4444, every frame intra: segments concatenate as they are; "apl0" as Apple
        # writes it
        cc.options = {"profile": "3" if spec.codec == "prores" else "4", "vendor": "apl0"}
        return stream
    if spec.codec == "dnxhr":
        # DNxHR HQX (10-bit 4:2:2), every frame intra: segments concatenate as they are
        cc.options = {"profile": "dnxhr_hqx"}
        return stream
    if spec.codec == "h264":
        # scenecut may add I-frames; open-gop stays off (x264's default) so every GOP is closed
        options["x264-params"] = f"keyint={gop}:min-keyint={min(int(gop), 25)}:open-gop=0"
    else:
        options["x265-params"] = (
            f"keyint={gop}:min-keyint={min(int(gop), 25)}:open-gop=0:log-level=error{_x265_hdr(spec)}"
        )
        cc.codec_tag = "hvc1"  # what Apple players need for HEVC in MP4
    cc.options = options
    return stream


def _x265_hdr(spec: EncodeSpec) -> str:
    """x265's VUI for an HDR output and, for HDR10 (PQ), its SEI: mastering display and content light.

    The mastering display is BT.2020 with a D65 white, from 0.0001 cd/m² to the output's peak;
    MaxCLL is the project's ``max_cll`` or else that peak (farm's chain never goes above it),
    MaxFALL the project's ``max_fall`` or 0 ("unknown", as HDR10 allows).
    """
    if spec.transfer == "sdr":
        return ""
    vui = f":{_X265_VUI[spec.transfer]}:colormatrix=bt2020nc:range=limited"
    if spec.transfer != "pq":
        return vui
    peak = round(spec.peak_nits)
    cll = spec.max_cll or peak
    return vui + f":hdr10=1:master-display={_BT2020_DISPLAY}L({peak * 10000},1):max-cll={cll},{spec.max_fall}"


def black_picture(spec: EncodeSpec) -> av.VideoFrame:
    """One limited-range black frame of the output size and pixel format (what a gap shows)."""
    frame = av.VideoFrame(spec.width, spec.height, spec.pix_fmt)
    wide = spec.pix_fmt != "yuv420p"  # every other format of an output is 10-bit
    dtype = np.uint16 if wide else np.uint8
    for plane, value in zip(frame.planes, (16, 128, 128), strict=True):
        level = value * 4 if wide else value
        plane.update(np.full(plane.buffer_size // dtype().itemsize, level, dtype=dtype).tobytes())
    return frame


def encode_segment(
    job: SegmentJob,
    path: Path,
    pictures: Iterable[tuple[av.VideoFrame, int]],
    clock: StageClock | None = None,
) -> int:
    """Encode ``job``'s ``(frame, repeat)`` pairs into the .mp4 at ``path``; check and return the count.

    ``pictures`` is consumed lazily, inside the open output, so a backend
    decodes while this encodes; each frame is written ``repeat`` times.
    ``clock`` (default: the segment's :func:`~farm.output.spans.current_clock`) receives the
    seconds spent encoding and muxing, and asks for verification.
    """
    spec = job.encode
    written = 0
    clock = clock if clock is not None else current_clock()  # the nvidia backend passes none
    # what the encoder is given, at its own depth, to measure what it wrote against
    fed: list[av.VideoFrame] | None = [] if clock is not None and clock.verify else None
    with av.open(str(path), "w", format=spec.container) as out:
        stream = open_encoder(out, spec)
        # the muxer rewrites stream.time_base on the first write: keep the encoder's own
        frame_tb = Fraction(spec.fps.denominator, spec.fps.numerator)
        tags = TAGS[spec.transfer]
        for frame, repeat in pictures:
            # ProRes takes its header's colour from each frame, not the stream: say the output's
            frame.color_primaries, frame.color_trc, frame.colorspace = tags
            frame.color_range = 1
            if fed is not None:
                fed.extend([frame] * repeat)
            for _ in range(repeat):
                frame.pts = written
                frame.time_base = frame_tb
                with optional_stage(clock, "encode"):
                    packets = stream.encode(frame)
                with optional_stage(clock, "mux"):
                    out.mux(packets)
                written += 1
        with optional_stage(clock, "encode"):
            packets = stream.encode(None)
        with optional_stage(clock, "mux"):
            out.mux(packets)
    check_frame_count(written, job)
    if clock is not None and fed is not None:
        from farm.media.compare import verify_encoded

        with clock.stage("verify"):
            clock.notes["verify"] = verify_encoded(str(path), fed)
    return written
