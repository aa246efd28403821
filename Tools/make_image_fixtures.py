#!/usr/bin/env python3
"""Regenerates Fixtures/images/: small real image files for RADBVisionTests.

Every picture is a 64x32 "quadrant" image (or a variant of it) whose flat colours the tests
check at the quadrant centres:  top-left red, top-right green, bottom-left blue, bottom-right
white. Blocks are aligned to 16 px so JPEG ringing stays away from the sampled centres.

Run from the repository root:  python3 Tools/make_image_fixtures.py
Needs only Pillow (with WebP support); the PNG variants Pillow cannot write (16-bit RGB, bad
CRC, bomb headers) are written chunk by chunk here.
"""
import io
import os
import struct
import zlib

from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "images")
W, H = 64, 32
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def quadrants(w=W, h=H, colours=(RED, GREEN, BLUE, WHITE), mode="RGB"):
    im = Image.new(mode, (w, h))
    tl, tr, bl, br = colours
    im.paste(tl, (0, 0, w // 2, h // 2))
    im.paste(tr, (w // 2, 0, w, h // 2))
    im.paste(bl, (0, h // 2, w // 2, h))
    im.paste(br, (w // 2, h // 2, w, h))
    return im


def path(name):
    return os.path.join(OUT, name)


# MARK: - PNG chunk writer (for what Pillow cannot write)

def png_chunk(kind, data, crc=None):
    if crc is None:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_file(width, height, bit_depth, colour_type, raw_rows, extra=b""):
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + row for row in raw_rows), 9)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


# MARK: - EXIF (APP1) payload with an orientation tag, in either byte order

def exif_payload(orientation, big_endian):
    """TIFF header + IFD0 with three entries (Make, Orientation, XResolution) so the reader
    must walk the IFD instead of finding the tag at a fixed offset."""
    e = ">" if big_endian else "<"
    header = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    n = 3
    ifd_size = 2 + n * 12 + 4
    make_off = 8 + ifd_size
    make = b"radb fixture\x00"
    xres_off = make_off + len(make)
    entries = struct.pack(e + "HHII", 0x010F, 2, len(make), make_off)
    entries += struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0)
    entries += struct.pack(e + "HHII", 0x011A, 5, 1, xres_off)
    ifd = struct.pack(e + "H", n) + entries + struct.pack(e + "I", 0)
    return b"Exif\x00\x00" + header + ifd + make + struct.pack(e + "II", 72, 1)


# Pillow's transposition that turns a stored image with orientation o upright (as exif_transpose).
UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
           4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
           6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}
# Its inverse, which makes the stored image from the upright one.
STORED = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
          4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
          6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_270}


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    q = quadrants()

    # MARK: JPEG
    q.save(path("jpeg_baseline.jpg"), quality=95)
    q.save(path("jpeg_progressive.jpg"), quality=95, progressive=True)
    quadrants(colours=(40, 100, 160, 220), mode="L").save(path("jpeg_grey.jpg"), quality=95)
    # Pillow stores CMYK JPEGs Adobe-style (inverted, with an APP14 Adobe marker).
    q.convert("CMYK").save(path("jpeg_cmyk.jpg"), quality=95)
    for o in range(1, 9):
        stored = q if o == 1 else q.transpose(STORED[o])
        assert (stored if o == 1 else stored.transpose(UPRIGHT[o])).tobytes() == q.tobytes()
        stored.save(path(f"jpeg_orientation_{o}.jpg"), quality=95,
                    exif=exif_payload(o, big_endian=(o % 2 == 1)))
    quadrants(1024, 768).save(path("jpeg_large_1024x768.jpg"), quality=90)

    # MARK: PNG
    q.save(path("png_rgb8.png"))
    # 16-bit RGB without gAMA: channel values v*257 so that 8-bit reduction is exact.
    rows = []
    for y in range(H):
        row = b""
        for x in range(W):
            r, g, b = q.getpixel((x, y))
            r, g, b = (64 if r else 0), (128 if g else 0), (192 if b else 0)
            row += struct.pack(">HHH", r * 257, g * 257, b * 257)
        rows.append(row)
    open(path("png_rgb16.png"), "wb").write(png_file(W, H, 16, 2, rows))
    q.convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(path("png_palette.png"))
    quadrants(colours=(40, 100, 160, 220), mode="L").save(path("png_grey.png"))
    grey16 = [b"".join(struct.pack(">H", (300 if x < W // 2 else 60000)) for x in range(W)) for _ in range(H)]
    open(path("png_grey16.png"), "wb").write(png_file(W, H, 16, 0, grey16))
    rgba = quadrants(colours=((255, 0, 0, 255), (0, 0, 0, 0), (0, 0, 255, 128), (255, 255, 255, 255)),
                     mode="RGBA")
    rgba.save(path("png_rgba.png"))
    quadrants(colours=((0, 255), (0, 0), (100, 128), (200, 255)), mode="LA").save(path("png_grey_alpha.png"))

    # PNG with an eXIf chunk saying "rotate 90° clockwise" (stored sideways, as phones do).
    q.transpose(STORED[6]).save(path("png_exif_orientation_6.png"), exif=exif_payload(6, big_endian=False))

    # MARK: WebP
    q.save(path("webp_lossy.webp"), quality=90)
    q.save(path("webp_lossless.webp"), lossless=True)
    rgba.save(path("webp_alpha.webp"), lossless=True)
    q.transpose(STORED[6]).save(path("webp_exif_orientation_6.webp"), lossless=True,
                                exif=exif_payload(6, big_endian=True))

    # MARK: Resize references: Pillow's resize(BILINEAR) of a textured picture, to compare with.
    src = Image.new("RGB", (97, 61))
    src.putdata([((x * 255) // 96, (y * 255) // 60, 255 if (x // 3 + y // 2) % 2 else 0)
                 for y in range(61) for x in range(97)])
    src.save(path("resize_source.png"))
    for w, h in [(40, 30), (150, 120), (97, 20), (13, 61)]:
        src.resize((w, h), Image.BILINEAR).save(path(f"resize_pillow_{w}x{h}.png"))

    # MARK: Format detection from bytes, not names
    open(path("png_named.jpg"), "wb").write(open(path("png_rgb8.png"), "rb").read())
    q.save(path("unsupported.gif"))

    # MARK: Corrupt and hostile files
    # Truncated inside the entropy-coded scan (a textured 96x96 picture, cut at 60 %).
    texture = Image.new("RGB", (96, 96))
    texture.putdata([((x * 37 + y * 11) % 256, (x * y) % 256, (x * 5 + y * 23) % 256)
                     for y in range(96) for x in range(96)])
    buf = io.BytesIO()
    texture.save(buf, "JPEG", quality=90)
    whole = buf.getvalue()
    assert whole.index(b"\xff\xda") < len(whole) * 6 // 10  # the cut lies after the scan header
    open(path("corrupt_truncated.jpg"), "wb").write(whole[: len(whole) * 6 // 10])
    jpeg = open(path("jpeg_baseline.jpg"), "rb").read()
    png = bytearray(open(path("png_rgb8.png"), "rb").read())
    idat = png.index(b"IDAT")
    length = struct.unpack(">I", png[idat - 4: idat])[0]
    png[idat + 4 + length] ^= 0xFF  # first CRC byte of the IDAT chunk
    open(path("corrupt_bad_crc.png"), "wb").write(bytes(png))
    # A valid IHDR claiming 100000 x 100000 RGB (30 GB decoded) followed by one tiny row.
    open(path("bomb_100000x100000.png"), "wb").write(png_file(100000, 100000, 8, 2, [b"\x00" * 30]))
    # A JPEG whose SOF claims 65000 x 65000 (JPEG's 16-bit fields cannot say 100000).
    jb = bytearray(jpeg)
    sof = jb.index(b"\xff\xc0")
    struct.pack_into(">HH", jb, sof + 5, 65000, 65000)
    open(path("bomb_65000x65000.jpg"), "wb").write(bytes(jb))
    # A lossless WebP whose VP8L header claims 16383 x 16383 (268 MP, WebP's largest size).
    wb = bytearray(open(path("webp_lossless.webp"), "rb").read())
    vp8l = wb.index(b"VP8L") + 8
    assert wb[vp8l] == 0x2F
    bits = struct.unpack("<I", wb[vp8l + 1: vp8l + 5])[0]
    bits = (bits & ~((1 << 28) - 1)) | 16382 | (16382 << 14)
    struct.pack_into("<I", wb, vp8l + 1, bits)
    open(path("bomb_16383x16383.webp"), "wb").write(bytes(wb))
    open(path("empty.jpg"), "wb").close()
    open(path("text.jpg"), "w").write("This is not a picture, only text saved with a .jpg name.\n")

    total = sum(os.path.getsize(path(f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
