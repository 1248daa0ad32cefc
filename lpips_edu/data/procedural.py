"""Images drawn by short programs: textures with no photographs behind them.

Baradad et al. (2021) and Kataoka et al. (2020) showed that networks learn
useful early filters from images made by simple random processes. Each
generator below is one such process; an image is a pure function of the
``numpy.random.Generator`` it is given, so a seed fixes every pixel.

All generators return an ``size x size x 3`` uint8 array.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, size=3))


def dead_leaves(rng: np.random.Generator, size: int) -> np.ndarray:
    """Occluding discs with power-law radii (the "dead leaves" model of natural image statistics).

    Radii follow p(r) ~ r^-3, the distribution that makes the image statistics
    scale invariant, as in natural photographs.
    """
    canvas = 2 * size  # draw at twice the size, then shrink: smooth (antialiased) edges
    image = Image.new("RGB", (canvas, canvas), _random_colour(rng))
    draw = ImageDraw.Draw(image)
    r_min, r_max = canvas / 32, canvas / 3
    # Inverse-CDF sampling of p(r) ~ r^-3 between r_min and r_max.
    u = rng.random(300)
    radii = (r_min ** -2 - u * (r_min ** -2 - r_max ** -2)) ** -0.5
    centres = rng.uniform(-r_max / 2, canvas + r_max / 2, size=(300, 2))
    for (x, y), r in zip(centres, radii):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_random_colour(rng))
    return np.asarray(image.resize((size, size), Image.Resampling.BOX))


def spectral_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Coloured Gaussian noise with a 1/f^alpha amplitude spectrum (alpha drawn in [1, 2])."""
    alpha = rng.uniform(1.0, 2.0)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0 / size
    amplitude = f ** -alpha
    channels = []
    for _ in range(3):
        spectrum = amplitude * (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape))
        channels.append(np.fft.irfft2(spectrum, s=(size, size)))
    x = np.stack(channels, -1)
    x = x @ rng.normal(size=(3, 3))  # correlate the channels: random colours, not grey
    x = (x - x.mean()) / (x.std() + 1e-8)
    return np.clip(127.5 + 50 * x, 0, 255).astype(np.uint8)


def gratings(rng: np.random.Generator, size: int) -> np.ndarray:
    """A sum of one to three oriented sinusoidal gratings in random colours."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    image = np.zeros((size, size, 3))
    for _ in range(int(rng.integers(1, 4))):
        theta = rng.uniform(0, np.pi)
        cycles = rng.uniform(2, 12)  # cycles per image, so the pattern scales with the image
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * cycles * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
        image += wave[..., None] * rng.uniform(-1, 1, size=3)
    image = (image - image.min()) / (image.max() - image.min() + 1e-8)
    return (image * 255).astype(np.uint8)


def julia(rng: np.random.Generator, size: int, iterations: int = 40) -> np.ndarray:
    """A random window onto a Julia set, coloured by escape time with a random palette."""
    angle = rng.uniform(0, 2 * np.pi)
    c = 0.7885 * np.exp(1j * angle)  # this circle gives connected, richly structured sets
    zoom = rng.uniform(0.6, 2.0)
    centre = rng.uniform(-0.5, 0.5, size=2)
    axis = (np.arange(size) / size - 0.5) * 3.0 / zoom
    z = (axis[None, :] + centre[0]) + 1j * (axis[:, None] + centre[1])
    escape = np.full(z.shape, iterations, dtype=np.float64)
    alive = np.ones(z.shape, dtype=bool)
    for i in range(iterations):
        z[alive] = z[alive] ** 2 + c
        escaped = alive & (np.abs(z) > 2)
        escape[escaped] = i
        alive &= ~escaped
    t = escape / iterations
    palette = rng.uniform(0, 1, size=(3, 3))  # colour = a + b cos(2 pi (c t + phase))
    rgb = palette[0] + 0.5 * np.cos(2 * np.pi * (palette[1] * t[..., None] * 3 + palette[2]))
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


GENERATORS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "dead_leaves": dead_leaves,
    "spectral_noise": spectral_noise,
    "gratings": gratings,
    "julia": julia,
}
