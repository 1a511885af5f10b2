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

import numpy as np
import pytest

from farm.kernels._composite import composite, finish, mix_layer, new_accumulator, wipe_edge

sys.path.insert(0, str(Path(__file__).parent))
import composite_cut  # noqa: E402


def nv12(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return y, np.stack([u, v], axis=-1)


def test_the_reference_is_the_cpu_backends_composite_bit_for_bit(project_dir: Path, tmp_path: Path) -> None:
    from farm.backends.composite import _layer_pictures, composite_pictures, frame_planes
    from farm.backends.cpu import _filtered_frames
    from farm.edit.project import load_project
    from farm.planning.planner import plan_project

    toml = composite_cut.write(project_dir)
    plan = plan_project(load_project(toml), None, tmp_path / "cache", family="cpu")
    jobs = [job for job in plan.jobs.values() if job.layers]
    masks = {layer.mask for job in jobs for layer in job.layers}
    alphas = {layer.source.alpha for job in jobs for layer in job.layers if layer.source is not None}
    assert len(jobs) >= 6 and "wipe-left" in masks and alphas == {False, True}
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
            y_out, uv_out = composite(np, job.encode.width, job.encode.height, stack)
            np.testing.assert_array_equal(y_out, y_cpu)
            np.testing.assert_array_equal(uv_out, np.stack([u_cpu, v_cpu], axis=-1))
            compared += 1
    assert compared == sum(job.count for job in jobs)


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


@pytest.mark.parametrize(
    ("mask", "weight", "expected"),
    [("", 0.3, (0, 0, 0)), ("wipe-left", 0.375, (1, 24, 0)), ("wipe-top-inv", 0.5, (2, 18, 1))],
)
def test_wipe_edges_fall_on_even_pixels(mask: str, weight: float, expected: tuple[int, int, int]) -> None:
    assert wipe_edge(mask, weight, 64, 36) == expected


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
