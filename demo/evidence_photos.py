"""Photos for the demo evidence case (demo/evidence_case.py), drawn with Pillow.

Plausible enough to review and to redact: a terraced street with a parked car whose
number plate is readable and a person whose face shows, a forced door, a doorbell camera
still, a fly-tip. Phone photos are JPEGs carrying EXIF as phones write it (the camera, the
time taken and a GPS position: what a disclosure must strip); the doorbell still is a PNG
screenshot with none. Every drawing is made from the caller's seeded `random.Random`.
"""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime

from PIL import Image, ImageDraw, ImageFilter, ImageFont


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def plate(rng: random.Random) -> str:
    """A made-up UK-style registration: two letters, two digits, three letters."""
    letters = "ABCDEFGHJKLMNOPRSTUVWXY"
    first = "".join(rng.choice(letters) for _ in range(2))
    last = "".join(rng.choice(letters) for _ in range(3))
    return f"{first}{rng.randint(10, 74):02d} {last}"


def _grain(im: Image.Image, rng: random.Random, amount: int) -> Image.Image:
    """Sensor noise and a little softness, so a drawing reads as a phone photo."""
    noise = Image.effect_noise(im.size, amount).convert("RGB")
    return Image.blend(im, noise, 0.08).filter(ImageFilter.GaussianBlur(0.8 + rng.random() * 0.4))


def _person(d: ImageDraw.ImageDraw, x: int, y: int, s: float, coat: tuple[int, int, int]) -> None:
    """A figure in a hood with a face: something for redaction to cover."""
    d.rounded_rectangle((x - 34 * s, y, x + 34 * s, y + 150 * s), radius=int(18 * s), fill=coat)
    for lx in (-26, 6):
        d.rectangle((x + lx * s, y + 150 * s, x + (lx + 20) * s, y + 240 * s), fill=(30, 30, 38))
    d.ellipse((x - 28 * s, y - 70 * s, x + 28 * s, y + 4 * s), fill=(205, 160, 130))
    d.chord((x - 30 * s, y - 76 * s, x + 30 * s, y - 10 * s), 180, 360, fill=(40, 34, 30))
    for ex in (-11, 11):
        d.ellipse((x + (ex - 4) * s, y - 42 * s, x + (ex + 4) * s, y - 35 * s), fill=(40, 30, 30))
    d.line((x - 9 * s, y - 16 * s, x + 9 * s, y - 16 * s), fill=(120, 60, 60), width=3)


def _car(
    d: ImageDraw.ImageDraw, x: int, y: int, colour: tuple[int, int, int], plate: str, broken: bool
) -> None:
    """A hatchback from behind, with its number plate (and a smashed rear window)."""
    body = [(x, y + 60), (x + 60, y), (x + 300, y), (x + 360, y + 60), (x + 380, y + 170)]
    d.polygon([*body, (x - 10, y + 170)], fill=colour)
    glass = (25, 25, 30) if broken else (70, 90, 110)
    d.polygon(
        [(x + 40, y + 58), (x + 80, y + 14), (x + 280, y + 14), (x + 320, y + 58)], fill=glass
    )
    if broken:
        for k in range(14):
            end = (x + 60 + k * 19, y + (14 if k % 2 else 58))
            d.line((x + 180, y + 36, *end), fill=(180, 190, 200), width=2)
    for wx in (x + 30, x + 290):
        d.ellipse((wx, y + 140, wx + 70, y + 210), fill=(20, 20, 20))
        d.ellipse((wx + 18, y + 158, wx + 52, y + 192), fill=(110, 110, 115))
    for lx in (x + 10, x + 300):
        d.rectangle((lx, y + 90, lx + 50, y + 115), fill=(200, 30, 30))
    d.rectangle((x + 120, y + 110, x + 240, y + 140), fill=(245, 200, 40), outline=(20, 20, 20))
    d.text((x + 180, y + 125), plate, fill=(15, 15, 15), font=_font(22), anchor="mm")


def street_photo(rng: random.Random, plate: str, night: bool, broken: bool) -> Image.Image:
    """A terraced street with a parked car (its plate readable) and a person by it."""
    w_, h_ = 1024, 768
    im = Image.new("RGB", (w_, h_), (18, 22, 40) if night else (150, 180, 210))
    d = ImageDraw.Draw(im)
    kerb = 470
    x = -40
    while x < w_:
        w = rng.randint(170, 220)
        brick = (120 + rng.randint(-15, 15), 60 + rng.randint(-10, 10), 45)
        if night:
            brick = (brick[0] // 3, brick[1] // 3, brick[2] // 3)
        d.rectangle((x, 150, x + w, kerb), fill=brick)
        d.polygon([(x - 6, 150), (x + w // 2, 95), (x + w + 6, 150)], fill=(50, 45, 50))
        for row in (190, 320):
            for cx in (x + 25, x + w - 75):
                lit = night and rng.random() < 0.45
                d.rectangle(
                    (cx, row, cx + 50, row + 70), fill=(240, 200, 110) if lit else (40, 50, 60)
                )
                d.line((cx + 25, row, cx + 25, row + 70), fill=(200, 200, 200), width=3)
        d.rectangle((x + w // 2 - 22, 380, x + w // 2 + 22, kerb), fill=(30, 60, 40))
        x += w
    d.rectangle((0, kerb, w_, kerb + 40), fill=(45, 45, 50) if night else (110, 110, 110))
    d.rectangle((0, kerb + 40, w_, h_), fill=(28, 28, 32) if night else (70, 70, 75))
    for k in range(0, w_, 120):
        d.rectangle((k, 640, k + 60, 650), fill=(90, 90, 80) if night else (200, 200, 190))
    if night:  # a street lamp and its glow
        glow = Image.new("RGB", (w_, h_), (0, 0, 0))
        ImageDraw.Draw(glow).ellipse((720, 60, 960, 300), fill=(120, 90, 30))
        glow = glow.filter(ImageFilter.GaussianBlur(50))
        im = Image.blend(im, Image.composite(glow, im, glow.convert("L")), 0.5)
        d = ImageDraw.Draw(im)
        d.rectangle((836, 170, 846, 520), fill=(60, 60, 60))
        d.ellipse((822, 160, 860, 185), fill=(255, 220, 150))
    colours = [(150, 20, 25), (30, 60, 130), (200, 200, 205), (40, 40, 45), (90, 110, 60)]
    _car(d, 120, 440, rng.choice(colours), plate, broken)
    _person(d, 700, 420, 0.9, (50, 50, 70))
    return _grain(im, rng, 40)


def doorbell_frame(rng: random.Random, when: float) -> Image.Image:
    """A doorbell camera still: grey night vision, a lens vignette, its own timestamp."""
    im = Image.new("RGB", (960, 720), (60, 60, 60))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 430, 960, 720), fill=(85, 85, 85))
    d.polygon([(380, 430), (580, 430), (760, 720), (200, 720)], fill=(110, 110, 110))
    d.rectangle((0, 120, 160, 430), fill=(45, 45, 45))
    d.rectangle((820, 150, 960, 430), fill=(45, 45, 45))
    d.rectangle((600, 300, 760, 430), fill=(70, 70, 70))
    _person(d, 470, 300, 1.2, (75, 75, 75))
    im = im.convert("L").convert("RGB")
    mask = Image.new("L", im.size, 0)
    ImageDraw.Draw(mask).ellipse((-160, -160, 1120, 880), fill=255)
    im = Image.composite(
        im, Image.new("RGB", im.size, (5, 5, 5)), mask.filter(ImageFilter.GaussianBlur(90))
    )
    d = ImageDraw.Draw(im)
    stamp = datetime.fromtimestamp(when, UTC).strftime("%d/%m/%Y %H:%M:%S")
    d.rectangle((0, 0, 960, 36), fill=(0, 0, 0))
    d.text((12, 6), f"FRONT DOOR  {stamp}", fill=(240, 240, 240), font=_font(22))
    return _grain(im, rng, 60)


def damage_photo(rng: random.Random) -> Image.Image:
    """A forced back door: a cracked glass panel, the frame splintered by the lock."""
    im = Image.new("RGB", (1024, 768), (170, 160, 140))
    d = ImageDraw.Draw(im)
    d.rectangle((260, 40, 760, 768), fill=(235, 235, 230))
    d.rectangle((330, 110, 690, 420), fill=(120, 140, 150))
    for _ in range(16):
        end = (560 + rng.randint(-220, 130), 260 + rng.randint(-150, 160))
        d.line((560, 260, *end), fill=(230, 235, 240), width=2)
    d.rectangle((690, 430, 740, 560), fill=(190, 190, 185))
    d.ellipse((705, 470, 725, 490), fill=(60, 60, 60))
    for k in range(9):
        y0 = 440 + k * 14
        d.line(
            (742, y0, 760 + rng.randint(5, 40), y0 + rng.randint(-6, 6)),
            fill=(120, 90, 60),
            width=3,
        )
    d.ellipse((700, 520, 740, 545), fill=(210, 180, 60))
    return _grain(im, rng, 30)


def flytip_photo(rng: random.Random) -> Image.Image:
    """Bags, boxes and a mattress against a back-alley wall."""
    im = Image.new("RGB", (1024, 768), (120, 140, 160))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 300, 1024, 768), fill=(90, 95, 80))
    d.rectangle((0, 200, 1024, 300), fill=(110, 70, 50))
    d.rectangle((640, 300, 780, 560), fill=(220, 210, 190))
    for _ in range(26):
        x, y = rng.randint(150, 850), rng.randint(400, 640)
        w, h = rng.randint(60, 150), rng.randint(40, 100)
        colour = rng.choice([(20, 20, 20), (40, 40, 45), (200, 200, 190), (150, 110, 70)])
        d.rounded_rectangle((x, y, x + w, y + h), radius=14, fill=colour)
    return _grain(im, rng, 30)


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    deg = int(value)
    minutes = int((value - deg) * 60)
    return (float(deg), float(minutes), round(((value - deg) * 60 - minutes) * 60, 2))


def jpeg_with_exif(
    im: Image.Image, lat: float, lon: float, when: float, phone: tuple[str, str]
) -> bytes:
    """A phone photo's bytes: EXIF naming the camera, the time taken and a GPS position
    (what a disclosure must strip)."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = phone  # Make, Model
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y:%m:%d %H:%M:%S")
    exif[0x0132] = stamp  # DateTime
    exif.get_ifd(0x8769)[0x9003] = stamp  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[0x0000] = b"\x02\x02\x00\x00"  # GPSVersionID
    gps[0x0001], gps[0x0002] = ("N" if lat >= 0 else "S"), _dms(lat)
    gps[0x0003], gps[0x0004] = ("E" if lon >= 0 else "W"), _dms(lon)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80, exif=exif)
    return buf.getvalue()


def png(im: Image.Image) -> bytes:
    """A screenshot's bytes (an app's export: PNG, no EXIF); grey stays one channel."""
    buf = io.BytesIO()
    im.convert("L").save(buf, "PNG", compress_level=6)
    return buf.getvalue()
