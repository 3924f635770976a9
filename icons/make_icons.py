"""Draws CCProxy's icons (a ring with a gap, the proxy's "pass-through" mark, on a rounded square)
as PNG files with the standard library only. Run from the repository root:

    python3 icons/make_icons.py

Every platform size of the app icon (icon.icns, icon.ico, Square*Logo.png, …) is derived from
icon.png by `npx tauri icon icons/icon.png -o icons` (see src-tauri/README.md). The tray icons
(tray-running.png, tray-stopped.png, tray-login.png, tray-quota.png) show the server's state by
their colour.
"""

import math
import struct
import zlib


def png(path, size, pixel):
    rows = bytearray()
    for y in range(size):
        rows.append(0)
        for x in range(size):
            rows.extend(pixel(x + 0.5, y + 0.5, size))
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


def icon(x, y, size, fg=(217, 119, 87), bg=(31, 41, 55)):
    s = size
    # Rounded square background.
    r = 0.22 * s
    dx = max(r - x, 0, x - (s - r))
    dy = max(r - y, 0, y - (s - r))
    inside = math.hypot(dx, dy) <= r
    if not inside:
        return (0, 0, 0, 0)
    cx, cy = s / 2, s / 2
    d = math.hypot(x - cx, y - cy)
    angle = math.degrees(math.atan2(y - cy, x - cx))
    ring = 0.22 * s <= d <= 0.34 * s and not (-35 <= angle <= 35)
    dot = math.hypot(x - cx, y - cy) <= 0.08 * s
    if ring or dot:
        return fg + (255,)
    return bg + (255,)


TRAY = {
    "tray-running.png": (217, 119, 87),  # the brand orange: serving
    "tray-stopped.png": (140, 140, 140),  # grey: stopped
    "tray-login.png": (234, 179, 8),  # amber: running, but no usable login
    "tray-quota.png": (220, 38, 38),  # red: a quota window past the alert threshold, or extra usage
}


if __name__ == "__main__":
    for size, name in [(1024, "icon.png"), (128, "128x128.png"), (32, "32x32.png")]:
        png(f"icons/{name}", size, icon)
    for name, fg in TRAY.items():
        png(f"icons/{name}", 64, lambda x, y, s, fg=fg: icon(x, y, s, fg=fg))
