"""Demo footage: a procedural city at dusk, with colour casts and film grain.

The ``"city"`` pattern is a dusk/night skyline with lit windows and moving
cars, seeded by the source id, for the demo and for benchmarks that want
natural-ish content. Static layers are drawn once; a frame is one copy of a
precomputed plate plus a few small rectangles. Measured on a 2-core CI
machine, pinned to one core, at 3840x2160: 3-5 ms a frame to paint (200-260
frames/s), plus 0.1 s of set-up (1.1 s with ``noise > 0``, which draws three
grain plates). The RGB → yuv420p conversion (swscale) then costs more than
painting (25-50 ms) and x264 ``ultrafast`` most of all: 48 frames of 4K city
take about 5 s to write on 2 cores.

``color_cast`` multiplies the whole picture: it models a camera with a colour
bias (the coded pattern's calibration blocks exist so that reading codes does
not care).
"""

from __future__ import annotations

import numpy as np


def cast_colour(rgb: tuple[float, float, float], cast: tuple[float, float, float]) -> np.ndarray:
    """One colour as a camera with the gains ``cast`` records it (uint8 RGB)."""
    colour: np.ndarray = np.clip(np.multiply(rgb, cast), 0, 255).round().astype(np.uint8)
    return colour


class CityPainter:
    """A skyline at dusk: static plates drawn once, cars and a beacon drawn per frame."""

    _SKIES = (  # (zenith, horizon) RGB: source ids cycle through times of day
        ((18, 24, 62), (238, 140, 84)),
        ((30, 60, 120), (250, 196, 120)),
        ((8, 10, 30), (70, 60, 110)),
        ((60, 110, 180), (200, 220, 235)),
    )

    def __init__(
        self, display_size: tuple[int, int], source_id: int, cast: tuple[float, float, float], noise: float
    ) -> None:
        width, height = display_size
        self._width, self._height = width, height
        self._cast = cast
        rng = np.random.default_rng(0x5EED + source_id)
        plate = np.empty((height, width, 3), dtype=np.uint8)
        self._draw_sky(plate, rng, source_id)
        self._horizon = round(0.86 * height)
        self._draw_buildings(plate, rng, far=True)
        beacon = self._draw_buildings(plate, rng, far=False)
        self._beacon = beacon
        self._draw_road(plate)
        self._cars = self._make_cars(rng)
        self._plates = self._add_grain(plate, rng, noise)

    def paint(self, frame_number: int) -> np.ndarray:
        picture: np.ndarray = self._plates[frame_number % len(self._plates)].copy()
        for car in self._cars:
            self._draw_car(picture, car, frame_number)
        if (frame_number // 12) % 2 == 0:  # an aircraft warning light blinking at ~1 Hz
            x, y, size = self._beacon
            picture[y : y + size, x : x + size] = self._colour((255, 40, 30))
        return picture

    def _colour(self, rgb: tuple[float, float, float]) -> np.ndarray:
        return cast_colour(rgb, self._cast)

    def _draw_sky(self, plate: np.ndarray, rng: np.random.Generator, source_id: int) -> None:
        zenith, horizon = (np.asarray(c, dtype=np.float32) for c in self._SKIES[source_id % len(self._SKIES)])
        top = zenith + rng.uniform(-10, 10, 3)
        t = np.linspace(0.0, 1.0, self._height, dtype=np.float32)[:, None] ** 1.6
        sky = top * (1 - t) + horizon * t
        sky = np.clip(sky * np.asarray(self._cast, np.float32), 0, 255).round().astype(np.uint8)
        plate[:] = sky[:, None, :]
        # a low sun or moon
        radius = 0.05 * self._height
        cx, cy = rng.uniform(0.1, 0.9) * self._width, rng.uniform(0.25, 0.55) * self._height
        y0, y1 = int(max(cy - radius, 0)), int(min(cy + radius + 1, self._height))
        x0, x1 = int(max(cx - radius, 0)), int(min(cx + radius + 1, self._width))
        ys, xs = np.ogrid[y0:y1, x0:x1]
        disc = (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= radius**2
        plate[y0:y1, x0:x1][disc] = self._colour((255, 236, 200))

    def _draw_buildings(self, plate: np.ndarray, rng: np.random.Generator, far: bool) -> tuple[int, int, int]:
        """Draw one row of buildings; returns (x, y, size) of a beacon on the tallest."""
        width, height, ground = self._width, self._height, self._horizon
        lowest, highest = (0.25, 0.45) if far else (0.15, 0.62)
        tallest = (0, ground, 1)
        x = int(-rng.uniform(0, 0.05) * width)
        while x < width:
            b_width = int(rng.uniform(0.04, 0.10 if far else 0.12) * width) + 2
            top = int(ground - rng.uniform(lowest, highest) * height)
            left, right = max(x, 0), min(x + b_width, width)
            shade = rng.uniform(40, 70) if far else rng.uniform(16, 38)
            tint = (shade * 0.9, shade * 0.95, shade * 1.15) if far else (shade, shade, shade * 1.1)
            plate[top:ground, left:right] = self._colour(tint)
            if not far:
                self._draw_windows(plate[top:ground, left:right], rng, x - left)
                if top < tallest[1]:
                    size = max(2, height // 200)
                    tallest = ((left + right) // 2, max(top - size, 0), size)
            x += b_width + int(rng.uniform(0.0, 0.02) * width)
        return tallest

    def _draw_windows(self, facade: np.ndarray, rng: np.random.Generator, x_offset: int) -> None:
        rows, cols = facade.shape[:2]
        pitch_x = max(4, self._width // 160)
        pitch_y = max(4, self._height // 60)
        margin = pitch_x // 2
        ys, xs = np.ogrid[0:rows, 0:cols]
        xs = xs - x_offset - margin  # window grid anchored to the building, not the frame
        ys = ys - margin
        in_window = (xs >= 0) & (ys >= 0) & (xs % pitch_x < pitch_x * 0.55) & (ys % pitch_y < pitch_y * 0.5)
        lit_table = rng.random((rows // pitch_y + 2, (cols - x_offset) // pitch_x + 2)) < 0.35
        lit = lit_table[np.clip(ys // pitch_y, 0, None), np.clip(xs // pitch_x, 0, None)]
        facade[in_window & lit] = self._colour((255, 210, 120))

    def _draw_road(self, plate: np.ndarray) -> None:
        ground, height, width = self._horizon, self._height, self._width
        plate[ground:] = self._colour((34, 34, 38))
        dash_y = (ground + height) // 2
        dash_h = max(1, height // 200)
        dash = np.zeros(width, dtype=bool)
        dash[(np.arange(width) // max(8, width // 40)) % 2 == 0] = True
        plate[dash_y : dash_y + dash_h, dash] = self._colour((200, 200, 190))

    def _make_cars(self, rng: np.random.Generator) -> list[tuple[float, float, int, int, np.ndarray]]:
        """Each car: (start x, pixels per frame, top y, length, colour)."""
        ground, height, width = self._horizon, self._height, self._width
        lanes = (ground + (height - ground) // 8, (ground + height) // 2 + max(1, height // 100))
        cars = []
        for index in range(6):
            lane = lanes[index % 2]
            speed = rng.uniform(0.004, 0.012) * width * (1 if index % 2 else -1)
            length = int(rng.uniform(0.05, 0.08) * width) + 2
            colour = self._colour(tuple(rng.uniform(60, 240, 3)))
            cars.append((rng.uniform(0, width), speed, lane, length, colour))
        return cars

    def _draw_car(
        self, picture: np.ndarray, car: tuple[float, float, int, int, np.ndarray], frame_number: int
    ) -> None:
        start, speed, top, length, colour = car
        span = self._width + length
        left = int((start + speed * frame_number) % span) - length
        body_h = max(2, (self._height - self._horizon) // 5)
        x0, x1 = max(left, 0), min(left + length, self._width)
        if x0 >= x1:
            return
        picture[top : top + body_h, x0:x1] = colour
        light_x = left + length - max(1, length // 10) if speed > 0 else left
        lx0, lx1 = max(light_x, 0), min(light_x + max(1, length // 10), self._width)
        if lx0 < lx1:
            picture[top : top + max(1, body_h // 3), lx0:lx1] = self._colour((255, 250, 220))

    @staticmethod
    def _add_grain(plate: np.ndarray, rng: np.random.Generator, noise: float) -> list[np.ndarray]:
        """Three plates with different luma grain, cycled per frame: grain that moves,
        at the cost of one addition per plate instead of one per frame."""
        if noise <= 0:
            return [plate]
        plates = []
        for _ in range(3):
            grain = rng.standard_normal(plate.shape[:2], dtype=np.float32) * (48 * noise)
            noisy = plate.astype(np.int16) + grain.round().astype(np.int16)[..., None]
            plates.append(np.clip(noisy, 0, 255).astype(np.uint8))
        return plates
