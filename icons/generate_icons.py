#!/usr/bin/env python3
"""Draw the Redline app icon: a gauge arc whose last segment is red, on transparency.

Standard library only (zlib + struct). Run from anywhere:

    python3 icons/generate_icons.py

Writes icon.png (512), 32x32.png, 128x128.png, 128x128@2x.png and icon.ico next to this file.
Shapes are signed-distance functions, so edges are anti-aliased at every size.
"""

import math
import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent

# Gauge geometry in a unit square (0..1). Angles are degrees clockwise from 12 o'clock.
CX, CY = 0.5, 0.55  # a 270-degree dial is open at the bottom, so sit it a little low
RADIUS, STROKE = 0.36, 0.11
TRACK = (-135, 55)  # the normal range
REDLINE = (78, 135)  # the red zone at the end of the dial
NEEDLE_ANGLE, NEEDLE_LEN, NEEDLE_W, HUB_R = 105, 0.24, 0.045, 0.075

GREY = (124, 133, 145)
RED = (229, 50, 45)


def arc_distance(x, y, start, end):
    """Distance from (x, y) to the arc's centre line from `start` to `end` degrees."""
    dx, dy = x - CX, y - CY
    angle = math.degrees(math.atan2(dx, -dy))
    if start <= angle <= end:
        return abs(math.hypot(dx, dy) - RADIUS)
    ends = [
        (CX + RADIUS * math.sin(math.radians(a)), CY - RADIUS * math.cos(math.radians(a)))
        for a in (start, end)
    ]
    return min(math.hypot(x - ex, y - ey) for ex, ey in ends)


def segment_distance(x, y, ax, ay, bx, by):
    """Distance from (x, y) to the segment a-b."""
    vx, vy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((x - ax) * vx + (y - ay) * vy) / (vx * vx + vy * vy)))
    return math.hypot(x - ax - t * vx, y - ay - t * vy)


def layers(x, y):
    """(colour, signed distance in unit coordinates) for each shape, bottom to top."""
    tip = math.radians(NEEDLE_ANGLE)
    tx, ty = CX + NEEDLE_LEN * math.sin(tip), CY - NEEDLE_LEN * math.cos(tip)
    yield GREY, arc_distance(x, y, *TRACK) - STROKE / 2
    yield RED, arc_distance(x, y, *REDLINE) - STROKE / 2
    yield RED, segment_distance(x, y, CX, CY, tx, ty) - NEEDLE_W / 2
    yield RED, math.hypot(x - CX, y - CY) - HUB_R


def render(size):
    """RGBA rows (straight alpha) of the icon at `size` x `size` pixels."""
    rows = []
    for py in range(size):
        row = bytearray()
        for px in range(size):
            x, y = (px + 0.5) / size, (py + 0.5) / size
            r = g = b = a = 0.0  # premultiplied
            for colour, dist in layers(x, y):
                cover = max(0.0, min(1.0, 0.5 - dist * size))  # one-pixel ramp at the edge
                r, g, b = (c * cover + old * (1 - cover) for c, old in zip(colour, (r, g, b)))
                a = cover + a * (1 - cover)
            if a:
                row += bytes((round(r / a), round(g / a), round(b / a), round(a * 255)))
            else:
                row += bytes(4)
        rows.append(bytes(row))
    return rows


def png(size):
    """Encode the icon as an 8-bit RGBA PNG."""
    def chunk(kind, data):
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + row for row in render(size))  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def ico(images):
    """Windows .ico holding PNG images (Vista and later read PNG entries)."""
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    for size, data in images:
        out += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    return out + b"".join(data for _, data in images)


def main():
    images = {size: png(size) for size in (32, 128, 256, 512)}
    files = {"32x32.png": 32, "128x128.png": 128, "128x128@2x.png": 256, "icon.png": 512}
    for name, size in files.items():
        (OUT / name).write_bytes(images[size])
    (OUT / "icon.ico").write_bytes(ico([(size, images[size]) for size in (32, 256)]))
    print("wrote", ", ".join([*files, "icon.ico"]), "to", OUT)


if __name__ == "__main__":
    main()
