#!/usr/bin/env python3
"""Makes the HEIC/AVIF/TIFF/GIF/BMP/RAW fixtures in Fixtures/formats and their reference decodes.

Every fixture is made by a real encoder from Fixtures/photos/cat.png (shrunk to 64x43 so each
file is a few KB): ImageMagick 6 (`convert`) for TIFF, GIF and BMP, `heif-enc` (libheif-examples)
for HEIC, `avifenc` (libavif-bin) for AVIF. The camera raw fixtures are small DNGs written by this
script (no camera at hand): a Bayer (RGGB) mosaic of the same picture, 16-bit, uncompressed, with an
RGB preview in IFD0 — full-size in raw_preview.dng (the decoder uses it), 16x11 in raw_mosaic.dng
(too small: the decoder demosaics).

References, in Fixtures/formats/reference/<fixture>.png, are decodes by other software:
Pillow 13 (+ pillow-heif 1.x for HEIC; Pillow's own AVIF plugin) with alpha composited over white
(Pillow applies a TIFF's Orientation tag itself; 16-bit grey is reduced as (v·255+32767)/65535),
and rawpy (LibRaw) `postprocess(half_size=True, use_camera_wb=True, output_bps=8)` for
raw_mosaic.dng. The tests (FormatFixtureTests) compare RADBVision's decode with them within a
tolerance stated per format.

Usage (from the repository root; needs imagemagick libheif-examples libavif-bin, pip pillow-heif rawpy):
  python3 Tools/make_format_fixtures.py
The commands run are printed and recorded in Fixtures/formats/COMMANDS.txt.
"""
import os
import struct
import subprocess
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Fixtures/formats")
REF = os.path.join(OUT, "reference")
SRC = os.path.join(ROOT, "Fixtures/photos/cat.png")
log = []


def run(*args):
    cmd = [str(a) for a in args]
    shown = " ".join(c.replace(ROOT + "/", "") for c in cmd)
    print(shown)
    log.append(shown)
    subprocess.run(cmd, check=True, cwd=OUT, stdout=subprocess.DEVNULL)


def small_sources():
    """cat_small.png (64x43 RGB) and cat_alpha.png (RGBA with a transparent left third)."""
    run("convert", SRC, "-resize", "64x", "-strip", "PNG24:cat_small.png")
    run("convert", "cat_small.png", "(", "-size", "64x43", "gradient:black-white", "-rotate", "-90",
        "-resize", "64x43!", ")", "-alpha", "off", "-compose", "CopyOpacity", "-composite", "-strip", "PNG32:cat_alpha.png")


def make_files():
    # HEIC / AVIF
    run("heif-enc", "-q", "85", "-o", "cat.heic", "cat_small.png")
    run("heif-enc", "-q", "85", "-o", "cat_alpha.heic", "cat_alpha.png")
    # Orientation: a JPEG stored sideways with EXIF orientation 6, through both encoders. heif-enc
    # copies the pixels as stored and keeps the EXIF tag without an irot box (HEIF readers ignore
    # EXIF orientation: the picture stays sideways); pillow-heif writes irot *and* keeps the EXIF tag
    # (turned once by irot; turning it again by EXIF would be wrong).
    run("heif-enc", "-q", "90", "-o", "orientation_exif6_no_irot.heic", "../images/jpeg_orientation_6.jpg")
    pillow_heif_save("../images/jpeg_orientation_6.jpg", "orientation_irot_and_exif6.heic")
    run("avifenc", "-s", "8", "--min", "10", "--max", "20", "cat_small.png", "cat.avif")
    run("avifenc", "-s", "8", "--min", "10", "--max", "20", "cat_alpha.png", "cat_alpha.avif")
    # TIFF: depths, colour models, compressions, alpha, pages, orientation tag
    run("convert", "cat_small.png", "-compress", "LZW", "cat_rgb8_lzw.tif")
    run("convert", "cat_small.png", "-depth", "16", "-compress", "Zip", "cat_rgb16_deflate.tif")
    run("convert", "cat_small.png", "-colorspace", "Gray", "-compress", "None", "cat_grey8.tif")
    run("convert", "cat_small.png", "-colorspace", "Gray", "-depth", "16", "-compress", "LZW", "cat_grey16_lzw.tif")
    run("convert", "cat_small.png", "-colorspace", "CMYK", "-compress", "LZW", "cat_cmyk8.tif")
    run("convert", "cat_small.png", "-compress", "JPEG", "-quality", "90", "cat_jpeg.tif")
    run("convert", "cat_small.png", "-compress", "RLE", "cat_packbits.tif")
    run("convert", "cat_alpha.png", "-compress", "LZW", "cat_rgba.tif")
    run("convert", "cat_small.png", "(", "cat_small.png", "-negate", ")", "-compress", "LZW", "cat_two_pages.tif")
    run("convert", "cat_small.png", "-rotate", "-90", "-orient", "RightTop", "-compress", "LZW", "cat_orientation_6.tif")
    # GIF: still, and an animation with transparency whose first frame is the cat
    run("convert", "cat_small.png", "cat.gif")
    run("convert", "-dispose", "Background", "-delay", "20", "cat_alpha.png", "(", "cat_small.png", "-negate", ")",
        "-loop", "0", "cat_animated.gif")
    # BMP: 24-bit, palettes, RLE8, 16-bit 5-6-5, 32-bit with alpha (v5 header)
    run("convert", "cat_small.png", "BMP3:cat_24.bmp")
    run("convert", "cat_small.png", "-colors", "256", "-type", "Palette", "BMP3:cat_8.bmp")
    run("convert", "cat_small.png", "-colors", "256", "-type", "Palette", "-compress", "RLE", "BMP3:cat_rle8.bmp")
    run("convert", "cat_small.png", "-colors", "16", "-type", "Palette", "BMP3:cat_4.bmp")
    run("convert", "cat_small.png", "-monochrome", "BMP3:cat_1.bmp")
    run("convert", "cat_small.png", "-define", "bmp:subtype=RGB565", "BMP:cat_565.bmp")
    run("convert", "cat_alpha.png", "BMP:cat_rgba.bmp")


def pillow_heif_save(source, name):
    import pillow_heif
    pillow_heif.register_heif_opener()
    Image.open(os.path.join(OUT, source)).save(os.path.join(OUT, name), quality=90)
    log.append(f"(python, pillow-heif {pillow_heif.__version__}) Image.open('{source}').save('{name}', quality=90)")


# MARK: - DNG

def tiff_entries(entries, base):
    """Serialises IFD entries (tag, type, values) placed at `base`; returns (ifd bytes, data bytes)."""
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 9: 4, 10: 8, 12: 8}
    codes = {1: "B", 2: "s", 3: "H", 4: "I", 5: "II", 9: "i", 10: "ii", 12: "d"}
    entries = sorted(entries)
    ifd_size = 2 + 12 * len(entries) + 4
    data = b""
    out = struct.pack("<H", len(entries))
    for tag, typ, values in entries:
        if typ == 2:
            payload = values.encode() + b"\0"
            count = len(payload)
        else:
            flat = [v for pair in values for v in pair] if typ in (5, 10) else list(values)
            payload = struct.pack("<" + codes[typ][-1] * len(flat), *flat)
            count = len(values)
        if len(payload) <= 4:
            out += struct.pack("<HHI", tag, typ, count) + payload.ljust(4, b"\0")
        else:
            offset = base + ifd_size + len(data)
            out += struct.pack("<HHII", tag, typ, count, offset)
            data += payload + (b"\0" if len(payload) % 2 else b"")
    return out + struct.pack("<I", 0), data


def write_dng(path, rgb, preview, orientation=1):
    """A minimal DNG 1.4: IFD0 = 8-bit RGB preview, SubIFD = 16-bit RGGB mosaic of `rgb` (2x its size)."""
    h, w, _ = rgb.shape
    big = np.repeat(np.repeat(rgb, 2, axis=0), 2, axis=1).astype(np.uint16) * 257
    mosaic = np.empty((2 * h, 2 * w), dtype=np.uint16)
    mosaic[0::2, 0::2] = big[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = big[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = big[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = big[1::2, 1::2, 2]
    raw_bytes = mosaic.astype("<u2").tobytes()
    ph, pw, _ = preview.shape
    preview_bytes = preview.astype(np.uint8).tobytes()
    # Layout: header, preview pixels, raw pixels, SubIFD, IFD0.
    preview_at = 8
    raw_at = preview_at + len(preview_bytes)
    sub_at = raw_at + len(raw_bytes)
    sub_entries = [
        (254, 4, [0]), (256, 4, [2 * w]), (257, 4, [2 * h]), (258, 3, [16]), (259, 3, [1]), (262, 3, [32803]),
        (273, 4, [raw_at]), (277, 3, [1]), (278, 4, [2 * h]), (279, 4, [len(raw_bytes)]), (284, 3, [1]),
        (33421, 3, [2, 2]), (33422, 1, [0, 1, 1, 2]), (50710, 1, [0, 1, 2]), (50717, 4, [65535]),
        (50714, 4, [0]),
    ]
    sub_ifd, sub_data = tiff_entries(sub_entries, sub_at)
    ifd0_at = sub_at + len(sub_ifd) + len(sub_data)
    ifd0_entries = [
        (254, 4, [1]), (256, 4, [pw]), (257, 4, [ph]), (258, 3, [8, 8, 8]), (259, 3, [1]), (262, 3, [2]),
        (271, 2, "radb"), (272, 2, "fixture camera"), (273, 4, [preview_at]), (274, 3, [orientation]),
        (277, 3, [3]), (278, 4, [ph]), (279, 4, [len(preview_bytes)]), (284, 3, [1]), (330, 4, [sub_at]),
        (50706, 1, [1, 4, 0, 0]), (50707, 1, [1, 1, 0, 0]), (50708, 2, "radb fixture camera"),
        (50721, 10, [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)]),  # ColorMatrix1: identity
        (50728, 5, [(1, 1), (1, 1), (1, 1)]),  # AsShotNeutral
        (50778, 3, [21]),  # CalibrationIlluminant1: D65
    ]
    ifd0, ifd0_data = tiff_entries(ifd0_entries, ifd0_at)
    with open(path, "wb") as f:
        f.write(b"II*\0" + struct.pack("<I", ifd0_at))
        f.write(preview_bytes + raw_bytes + sub_ifd + sub_data + ifd0 + ifd0_data)
    log.append(f"(python) write_dng {os.path.basename(path)}: {2 * w}x{2 * h} RGGB mosaic, {pw}x{ph} preview, orientation {orientation}")


def make_dngs():
    rgb = np.asarray(Image.open(os.path.join(OUT, "cat_small.png")).convert("RGB"))
    write_dng(os.path.join(OUT, "raw_preview.dng"), rgb, np.repeat(np.repeat(rgb, 2, 0), 2, 1))
    tiny = np.asarray(Image.fromarray(rgb).resize((16, 11), Image.BILINEAR))
    write_dng(os.path.join(OUT, "raw_mosaic.dng"), rgb, tiny)
    write_dng(os.path.join(OUT, "raw_preview_orientation_6.dng"), rgb, np.repeat(np.repeat(rgb, 2, 0), 2, 1), orientation=6)


# MARK: - References

def over_white(im):
    im = im.convert("RGBA")
    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, im).convert("RGB")


def references():
    import pillow_heif
    pillow_heif.register_heif_opener()
    os.makedirs(REF, exist_ok=True)
    for name in sorted(os.listdir(OUT)):
        path = os.path.join(OUT, name)
        stem, ext = os.path.splitext(name)
        if ext == ".dng":
            import rawpy
            with rawpy.imread(path) as raw:
                rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
            Image.fromarray(rgb).save(os.path.join(REF, name + ".png"))
            continue
        if ext not in (".heic", ".avif", ".tif", ".gif", ".bmp"):
            continue
        im = Image.open(path)
        im.seek(0)
        has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
        if im.mode.startswith("I;16"):  # Pillow's convert("RGB") clips 16-bit grey; reduce by rounding
            grey = ((np.asarray(im).astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
            im = Image.fromarray(grey).convert("RGB")
        im = over_white(im) if has_alpha else im.convert("RGB")
        im.save(os.path.join(REF, name + ".png"))


def main():
    os.makedirs(OUT, exist_ok=True)
    small_sources()
    make_files()
    make_dngs()
    references()
    with open(os.path.join(OUT, "COMMANDS.txt"), "w") as f:
        f.write("# Made by Tools/make_format_fixtures.py (run in Fixtures/formats); references by Pillow/pillow-heif/rawpy.\n")
        f.write("\n".join(log) + "\n")


if __name__ == "__main__":
    sys.exit(main())
