"""The compositing twins: the NumPy reference against the CPU backend, and the CUDA kernel against both.

The reference (``farm.kernels._composite``) must give the CPU backend's
composite bit for bit when fed the same layer pictures: the test plans a real
composited cut over coded sources, lets the CPU backend composite every
composited segment, and mixes the CPU backend's own layer pictures with the
reference. The CUDA kernel (emulated here, on a GPU where there is one) must
give the reference bit for bit on random layers, alpha, weights and wipes.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from farm.kernels._composite import WIPES, composite, finish, mix_layer, new_accumulator, wipe_plane

sys.path.insert(0, str(Path(__file__).parent))
import composite_cut  # noqa: E402


def nv12(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return y, np.stack([u, v], axis=-1)


def _composited_jobs(toml: Path, cache: Path) -> list:
    from farm.edit.project import load_project
    from farm.planning.planner import plan_project

    plan = plan_project(load_project(toml), None, cache, family="cpu")
    return [job for job in plan.jobs.values() if job.layers]


def _compare_with_the_cpu_backend(jobs: list, device_xp: Any = None) -> int:
    """Every frame of ``jobs`` composited by the CPU backend, by the reference from the CPU backend's
    own layer pictures and, given ``device_xp``, by the CUDA kernel: the same bytes. Returns frames."""
    from farm.backends.composite import _layer_pictures, composite_pictures, frame_planes
    from farm.backends.cpu import _filtered_frames

    compared = 0
    for job in jobs:
        expected = [frame_planes(frame)[:3] for frame, _ in composite_pictures(job, _filtered_frames)]
        pictures = [_layer_pictures(layer, job, _filtered_frames) for layer in job.layers]
        for k, (y_cpu, u_cpu, v_cpu) in enumerate(expected):
            stack = []
            for layer, pics in zip(job.layers, pictures, strict=True):
                y, u, v, a = pics[layer.frames[k] if layer.source is not None else -1]
                alpha = None if np.all(a == 1.0) else np.rint(a * 255).astype(np.uint8)
                stack.append((*nv12(y, u, v), alpha, float(layer.weights[k]), layer.mask))
            uv_cpu = np.stack([u_cpu, v_cpu], axis=-1)
            y_out, uv_out = composite(np, job.encode.width, job.encode.height, stack)
            np.testing.assert_array_equal(y_out, y_cpu)
            np.testing.assert_array_equal(uv_out, uv_cpu)
            if device_xp is not None:
                y_dev, uv_dev = composite(
                    device_xp, job.encode.width, job.encode.height, _upload(device_xp, stack)
                )
                np.testing.assert_array_equal(device_xp.asnumpy(y_dev), y_cpu)
                np.testing.assert_array_equal(device_xp.asnumpy(uv_dev), uv_cpu)
            compared += 1
    return compared


def _upload(xp: Any, stack: list) -> list:
    return [
        (xp.asarray(y), xp.asarray(uv), None if a is None else xp.asarray(a), wt, m)
        for y, uv, a, wt, m in stack
    ]


def test_the_reference_is_the_cpu_backends_composite_bit_for_bit(project_dir: Path, tmp_path: Path) -> None:
    jobs = _composited_jobs(composite_cut.write(project_dir), tmp_path / "cache")
    masks = {layer.mask for job in jobs for layer in job.layers}
    alphas = {layer.source.alpha for job in jobs for layer in job.layers if layer.source is not None}
    assert len(jobs) >= 6 and "wipe-left" in masks and alphas == {False, True}
    assert _compare_with_the_cpu_backend(jobs) == sum(job.count for job in jobs)


@pytest.mark.parametrize(
    "codes", [("W003", "W007", "W008"), ("W021", "W024", "W005"), ("W002", "W026", "W023")]
)
def test_every_wipe_is_the_cpu_backends_on_the_reference_and_the_kernel(
    project_dir: Path, tmp_path: Path, emulated_cupy: object, codes: tuple[str, str, str]
) -> None:
    """SMPTE wipes between coded clips and into a gap (``-inv``): the reference and the CUDA kernel
    (emulated) composite every frame to the CPU backend's bytes, with the CPU backend's masks."""
    jobs = _composited_jobs(composite_cut.write_wipes(project_dir, codes), tmp_path / "cache")
    from farm.edit.cut import WIPES as BY_CODE

    first, second, into_gap = (BY_CODE[code] for code in codes)
    masks = {layer.mask for job in jobs for layer in job.layers}
    assert masks == {"", first, second, into_gap + "-inv"}, masks
    frames = sum(job.count for job in jobs)
    assert frames >= 10 and _compare_with_the_cpu_backend(jobs, emulated_cupy) == frames


def test_a_dissolve_of_two_flat_pictures_is_the_documented_weight() -> None:
    """(1 − w)·A + w·B, rounded once: frame k of 4 has w = (k + ½)/4."""
    w, h = 8, 4
    a = (np.full((h, w), 200, np.uint8), np.full((h // 2, w // 2, 2), 100, np.uint8))
    b = (np.full((h, w), 40, np.uint8), np.full((h // 2, w // 2, 2), 180, np.uint8))
    for k in range(4):
        weight = (k + 0.5) / 4
        y, uv = composite(np, w, h, [(*a, None, 1.0, ""), (*b, None, weight, "")])
        assert np.all(y == round((1 - weight) * 200 + weight * 40))
        assert np.all(uv == round((1 - weight) * 100 + weight * 180))


@pytest.mark.parametrize("mask", WIPES)
def test_the_wipe_planes_are_the_cpu_backends_masks(mask: str) -> None:
    """Every mask the CPU backend draws, as the 0/1 plane the kernel is given, at odd and even weights."""
    from farm.backends.wipes import wipe_mask

    for weight in (0.0, 0.125, 0.5, 0.8125, 1.0):
        plane = wipe_plane(mask, weight, 64, 36)
        assert plane.dtype == np.uint8 and not plane.flags.writeable
        np.testing.assert_array_equal(plane, wipe_mask(mask, weight, 64, 36))
        assert wipe_plane(mask, weight, 64, 36) is plane  # computed once per mask, weight and size
    assert wipe_plane(mask, 0.5, 64, 36).sum() not in (0, 64 * 36)


def test_bad_layers_are_refused() -> None:
    acc_y, acc_uv = new_accumulator(np, 8, 4)
    y, uv = np.zeros((4, 8), np.uint8), np.zeros((2, 4, 2), np.uint8)
    with pytest.raises(ValueError, match="NV12"):
        mix_layer(acc_y, acc_uv, y.astype(np.uint16), uv, None, 1.0)
    with pytest.raises(ValueError, match="mask"):
        mix_layer(acc_y, acc_uv, y, uv, None, 1.0, "iris")


def _random_stack(rng: np.random.Generator, w: int, h: int) -> list:
    stack = []
    for mask, weight, with_alpha in [
        ("", 1.0, False),
        ("", float(Fraction(3, 8)), True),
        ("wipe-left", 0.4, True),
        ("wipe-top-inv", 0.7, False),
        ("wipe-007", 0.6, True),
        ("wipe-024-inv", 0.3, False),
        ("", float(Fraction(1, 3)), True),
    ]:
        y = rng.integers(0, 256, (h, w), dtype=np.uint8)
        uv = rng.integers(0, 256, (h // 2, w // 2, 2), dtype=np.uint8)
        alpha = rng.integers(0, 256, (h, w), dtype=np.uint8) if with_alpha else None
        if alpha is not None:
            alpha[:, :4] = 0
            alpha[:, 4:8] = 255
        stack.append((y, uv, alpha, weight, mask))
    return stack


def test_the_cuda_kernel_is_the_reference_bit_for_bit(device_xp, rng) -> None:  # type: ignore[no-untyped-def]
    w, h = 64, 36
    stack = _random_stack(rng, w, h)
    expected = composite(np, w, h, stack)
    device_stack = [
        (device_xp.asarray(y), device_xp.asarray(uv), None if a is None else device_xp.asarray(a), wt, m)
        for y, uv, a, wt, m in stack
    ]
    y, uv = composite(device_xp, w, h, device_stack)
    assert type(y) is device_xp.ndarray and y.dtype == np.uint8
    np.testing.assert_array_equal(device_xp.asnumpy(y), expected[0])
    np.testing.assert_array_equal(device_xp.asnumpy(uv), expected[1])


def test_the_cuda_accumulator_matches_before_rounding(device_xp, rng) -> None:  # type: ignore[no-untyped-def]
    """Not only the rounded picture: every float of the accumulator is the reference's."""
    w, h = 16, 8
    stack = _random_stack(rng, w, h)
    ref = new_accumulator(np, w, h)
    dev = new_accumulator(device_xp, w, h)
    for y, uv, a, wt, m in stack:
        mix_layer(*ref, y, uv, a, wt, m)
        mix_layer(
            *dev,
            device_xp.asarray(y),
            device_xp.asarray(uv),
            None if a is None else device_xp.asarray(a),
            wt,
            m,
        )
    np.testing.assert_array_equal(device_xp.asnumpy(dev[0]), ref[0])
    np.testing.assert_array_equal(device_xp.asnumpy(dev[1]), ref[1])
    assert np.array_equal(device_xp.asnumpy(finish(*dev)[0]), finish(*ref)[0])


def test_rounding_is_once_ties_to_even_and_clamped(device_xp) -> None:  # type: ignore[no-untyped-def]
    acc = np.array([[-3.0, 0.5, 1.5, 2.5], [16.49999, 254.5, 255.4, 300.0]], np.float32)
    uv = np.full((1, 2, 2), 127.5, np.float32)
    expected = ([[0, 0, 2, 2], [16, 254, 255, 255]], [[[128, 128], [128, 128]]])
    for xp in (np, device_xp):
        y_out, uv_out = finish(xp.asarray(acc), xp.asarray(uv))
        np.testing.assert_array_equal(device_xp.asnumpy(y_out) if xp is device_xp else y_out, expected[0])
        np.testing.assert_array_equal(device_xp.asnumpy(uv_out) if xp is device_xp else uv_out, expected[1])
