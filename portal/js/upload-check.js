// Is this file one the relay will take? Checked in the browser before anything is sent,
// with the relay's own limits (protocol.js mirrors backend_client/limits.py): the type by
// the file's first bytes (never its name or the browser's guess), its size, and for a
// picture its width x height. Then its SHA-256, which the report declares.

import { MAX_IMAGE_PIXELS, MAX_MEDIA_BYTES } from "./protocol.js";

const HEAD_BYTES = 16;

/** The media type the file's magic bytes say (the same signatures relay/media.py checks),
 * or null for anything else. */
export function sniff(head) {
  const b = new Uint8Array(head);
  const ascii = (from, to) => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (b.length >= 8 && b[0] === 0x89 && ascii(1, 8) === "PNG\r\n\x1a\n") return "image/png";
  if (b.length >= 12 && ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "image/webp";
  if (b.length >= 8 && ascii(4, 8) === "ftyp") return "video/mp4";
  return null;
}

function readHead(file) {
  // FileReader on a slice: only the first bytes are read, however large the file
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsArrayBuffer(file.slice(0, HEAD_BYTES));
  });
}

function pixels(file) {
  // the browser reads the picture's header for its size; nothing is drawn
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => {
      URL.revokeObjectURL(url);
      resolve(img.naturalWidth * img.naturalHeight);
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      resolve(null);
    };
    img.src = url;
  });
}

/** null when the relay would take the file, else why not: {key, vars} for the catalogue
 * (keys upload.refused_*), and the type found when it is fine. */
export async function check(file) {
  if (file.size === 0) return { refused: "upload.refused_empty" };
  if (file.size > MAX_MEDIA_BYTES) return { refused: "upload.refused_size" };
  let mime;
  try {
    mime = sniff(await readHead(file));
  } catch {
    return { refused: "upload.refused_unreadable" };
  }
  if (mime === null) return { refused: "upload.refused_type" };
  if (mime.startsWith("image/")) {
    const count = await pixels(file);
    if (count === null) return { refused: "upload.refused_unreadable" };
    if (count > MAX_IMAGE_PIXELS) return { refused: "upload.refused_pixels" };
  }
  return { mime };
}

/** SHA-256 of the whole file, lowercase hex. WebCrypto's digest has no streaming form, so
 * the file is read into memory in one go: at most MAX_MEDIA_BYTES (50 MiB), which a phone's
 * browser holds; hashing it piecewise would need a hand-written SHA-256 in JavaScript. */
export async function sha256Hex(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The bytes of `blob` as base64 (a media.chunk's `data`), read by the browser itself. */
export function base64Of(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).slice(String(reader.result).indexOf(",") + 1));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}
