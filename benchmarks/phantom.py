"""Synthetic CT / PET / MR slices that compress like real ones, without numpy.

numpy is not a dependency of dossierkit (pydicom only needs it to *decode*
pixels, which we never do), so a benchmark must not pull it in just to make
noise. Instead a slice is built with C-speed byte operations only:

1. the anatomy (body outline, fat, muscle, lungs, heart, liver, kidneys,
   spine, bladder, a tumour) is painted row by row with ``bytearray`` slice
   assignments of constant runs: a few thousand operations per slice;
2. a second bytearray holds, for every pixel, a *noise mask* (how many low
   bits are noisy in that tissue: none in the padding outside the
   reconstruction circle, a few in air, more in soft tissue, many in PET);
3. a slice is ``base XOR (random & mask)`` on Python big integers
   (``int.from_bytes``), i.e. three linear C loops over 0.5 MB.

Painting is cached per z level (adjacent slices share anatomy, as in real
scans); each slice draws fresh random bits. A 512² CT slice costs ~5 ms.
Deflate ratios of the result sit where real uncompressed CT/MR do
(pydicom-data's 693_UNCI/UNCR CT: 2.1-2.7; MR2_UNCI: 2.3) — see
docs/performance.md.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# Tissue classes, painted in this order (later wins).
PADDING, AIR, TABLE, FAT, SOFT, LUNG, BLOOD, LIVER, KIDNEY, BONE, MARROW, WATER, TUMOUR = range(13)


@dataclass(frozen=True)
class Palette:
    """Stored value and noise mask per tissue class, plus DICOM pixel module."""

    values: dict[int, tuple[int, int]]  # class -> (stored value, noise mask)
    signed: bool
    bits_stored: int
    fov_circle: bool  # CT: values outside the reconstruction circle are padding


CT = Palette(
    # Stored = HU + 1024 (RescaleIntercept -1024); padding -2000 like many scanners.
    # 6 noisy bits in tissue ~ a noise SD of 18 HU, as in routine abdominal CT.
    values={PADDING: (-2000, 0x0000), AIR: (24, 0x001F), TABLE: (1224, 0x000F), FAT: (924, 0x003F),
            SOFT: (1064, 0x003F), LUNG: (174, 0x003F), BLOOD: (1094, 0x003F), LIVER: (1114, 0x003F),
            KIDNEY: (1054, 0x003F), BONE: (1924, 0x007F), MARROW: (1274, 0x003F), WATER: (1024, 0x003F),
            TUMOUR: (1064, 0x003F)},
    signed=True, bits_stored=16, fov_circle=True)

PET = Palette(
    # Activity concentration with a per-slice RescaleSlope; noisy, hot organs and lesion.
    values={PADDING: (0, 0x0000), AIR: (0, 0x0003), TABLE: (0, 0x0003), FAT: (256, 0x007F),
            SOFT: (768, 0x00FF), LUNG: (128, 0x003F), BLOOD: (2048, 0x01FF), LIVER: (1536, 0x01FF),
            KIDNEY: (3072, 0x03FF), BONE: (640, 0x00FF), MARROW: (1024, 0x00FF), WATER: (12288, 0x07FF),
            TUMOUR: (16384, 0x0FFF)},
    signed=False, bits_stored=16, fov_circle=False)

MR = Palette(
    # T1-like contrast, 12-bit; Rician-ish background noise.
    values={PADDING: (0, 0x0007), AIR: (0, 0x000F), TABLE: (0, 0x000F), FAT: (1600, 0x007F),
            SOFT: (704, 0x003F), LUNG: (32, 0x001F), BLOOD: (256, 0x003F), LIVER: (896, 0x003F),
            KIDNEY: (640, 0x003F), BONE: (128, 0x001F), MARROW: (1216, 0x007F), WATER: (192, 0x001F),
            TUMOUR: (1088, 0x007F)},
    signed=False, bits_stored=12, fov_circle=False)

PALETTES = {"CT": CT, "PT": PET, "MR": MR}


def _ellipses(z: float) -> list[tuple[int, float, float, float, float]]:
    """Anatomy at relative height z (0 = upper thorax, 1 = pelvis):
    (class, centre u, centre v, semi-axis u, semi-axis v) in [-1, 1] units."""
    wobble = 0.03 * math.sin(6.0 * z)
    body_a, body_b = 0.70 + wobble + 0.05 * z, 0.46 + 0.04 * math.sin(3.0 * z)
    shapes = [(TABLE, 0.0, 0.66, 0.85, 0.03), (FAT, 0.0, 0.05, body_a, body_b),
              (SOFT, 0.0, 0.05, body_a - 0.06, body_b - 0.05)]
    if z < 0.45:
        lung_b = 0.30 * (1.0 - z / 0.5) + 0.05
        shapes += [(LUNG, -0.30, -0.02, 0.22, lung_b), (LUNG, 0.30, -0.02, 0.22, lung_b)]
    if 0.12 < z < 0.40:
        shapes.append((BLOOD, 0.08, 0.06, 0.17, 0.15))
    if 0.33 < z < 0.72:
        shapes.append((LIVER, -0.28, 0.02, 0.30 - 0.2 * abs(z - 0.5), 0.24))
    if 0.40 < z < 0.62:
        shapes.append((SOFT, 0.40, 0.06, 0.10, 0.12))
    if 0.55 < z < 0.80:
        shapes += [(KIDNEY, -0.24, 0.22, 0.08, 0.12), (KIDNEY, 0.24, 0.22, 0.08, 0.12)]
    if z < 0.85:
        shapes.append((BLOOD, 0.05, 0.20, 0.045, 0.045))
    if z > 0.84:
        shapes.append((WATER, 0.0, 0.04, 0.16, 0.12))
    shapes += [(BONE, 0.0, 0.33, 0.085, 0.085), (MARROW, 0.0, 0.33, 0.055, 0.055)]
    if 0.24 < z < 0.34:  # the tumour, in the right lung / hilum
        r = 0.055 * math.sin(math.pi * (z - 0.24) / 0.10)
        shapes.append((TUMOUR, -0.30, -0.06, r, r))
    return shapes


class SliceMaker:
    """Makes slices of one modality at one matrix size (square, ``size`` px)."""

    def __init__(self, modality: str, size: int, seed: int = 0, z_levels: int = 48):
        self.palette = PALETTES[modality]
        self.size = size
        self.nbytes = size * size * 2
        self.rng = random.Random(seed)
        self.z_levels = z_levels
        self._cache: dict[int, tuple[int, int]] = {}
        self._runs = {cls: (v.to_bytes(2, "little", signed=self.palette.signed) * size,
                            m.to_bytes(2, "little") * size) for cls, (v, m) in self.palette.values.items()}

    def _paint(self, z: float) -> tuple[int, int]:
        n = self.size
        base = bytearray(self._runs[AIR][0] * n)
        mask = bytearray(self._runs[AIR][1] * n)
        shapes = _ellipses(z)
        half = n / 2.0
        for row in range(n):
            v = (row + 0.5 - half) / half
            off = row * n * 2
            for cls, cu, cv, au, av in shapes:
                t = (v - cv) / av
                if t * t >= 1.0:
                    continue
                du = au * math.sqrt(1.0 - t * t)
                x0 = max(0, int((cu - du + 1.0) * half))
                x1 = min(n, int((cu + du + 1.0) * half))
                if x1 > x0:
                    vb, mb = self._runs[cls]
                    base[off + 2 * x0:off + 2 * x1] = vb[:2 * (x1 - x0)]
                    mask[off + 2 * x0:off + 2 * x1] = mb[:2 * (x1 - x0)]
            if self.palette.fov_circle:  # outside the reconstruction circle: padding
                inside = 1.0 - v * v
                du = math.sqrt(inside) * 0.98 if inside > 0 else 0.0
                x0, x1 = int((1.0 - du) * half), int((1.0 + du) * half)
                pb, pm = self._runs[PADDING]
                base[off:off + 2 * x0] = pb[:2 * x0]
                mask[off:off + 2 * x0] = pm[:2 * x0]
                base[off + 2 * x1:off + 2 * n] = pb[:2 * (n - x1)]
                mask[off + 2 * x1:off + 2 * n] = pm[:2 * (n - x1)]
        return int.from_bytes(base, "little"), int.from_bytes(mask, "little")

    def slice(self, z: float) -> bytes:
        """Pixel data (little endian, 16-bit) of the slice at relative height z."""
        level = min(self.z_levels - 1, max(0, int(z * self.z_levels)))
        painted = self._cache.get(level)
        if painted is None:
            painted = self._cache[level] = self._paint((level + 0.5) / self.z_levels)
        base, mask = painted
        noise = int.from_bytes(self.rng.randbytes(self.nbytes), "little")
        return (base ^ (noise & mask)).to_bytes(self.nbytes, "little")
