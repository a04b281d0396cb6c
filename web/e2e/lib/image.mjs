// Just enough image handling to compare a browser screenshot (PNG) with
// QEMU's screendump (PPM): decode, downscale to a grid, compare.
import { inflateSync } from "node:zlib";

/** Decodes an 8-bit, non-interlaced PNG (grey, RGB, RGBA) → {width, height, rgba}. */
export function decodePng(buf) {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error("not a PNG");
  let pos = 8;
  let width, height, depth, colorType, interlace;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.subarray(pos + 4, pos + 8).toString("ascii");
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      depth = data[8];
      colorType = data[9];
      interlace = data[12];
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    pos += 12 + len;
  }
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType];
  if (depth !== 8 || !channels || interlace !== 0) {
    throw new Error(`PNG depth ${depth} colour type ${colorType} interlace ${interlace} unsupported`);
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = new Uint8Array(width * height * 4);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = Uint8Array.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? line[x - channels] : 0;
      const b = prev[x];
      const c = x >= channels ? prev[x - channels] : 0;
      let add = 0;
      if (filter === 1) add = a;
      else if (filter === 2) add = b;
      else if (filter === 3) add = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        add = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[x] = (line[x] + add) & 0xff;
    }
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      const i = x * channels;
      if (channels <= 2) {
        out[o] = out[o + 1] = out[o + 2] = line[i];
        out[o + 3] = channels === 2 ? line[i + 1] : 255;
      } else {
        out[o] = line[i];
        out[o + 1] = line[i + 1];
        out[o + 2] = line[i + 2];
        out[o + 3] = channels === 4 ? line[i + 3] : 255;
      }
    }
    prev = line;
  }
  return { width, height, rgba: out };
}

const luma = (rgba, i) => 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];

/** Share of pixels brighter than `threshold` (text on a black console). */
export function litFraction(img, threshold = 48) {
  let lit = 0;
  for (let i = 0; i < img.width * img.height; i++) if (luma(img.rgba, i * 4) > threshold) lit++;
  return lit / (img.width * img.height);
}

/** Number of distinct grey levels (a uniform canvas has 1). */
export function distinctLevels(img) {
  const seen = new Set();
  for (let i = 0; i < img.width * img.height; i++) seen.add(Math.round(luma(img.rgba, i * 4) / 8));
  return seen.size;
}

/** Mean brightness per cell of a cols × rows grid (images of any size). */
export function grid(img, cols, rows) {
  const cells = new Float64Array(cols * rows);
  const counts = new Uint32Array(cols * rows);
  for (let y = 0; y < img.height; y++) {
    const cy = Math.min(rows - 1, Math.floor((y * rows) / img.height));
    for (let x = 0; x < img.width; x++) {
      const cx = Math.min(cols - 1, Math.floor((x * cols) / img.width));
      cells[cy * cols + cx] += luma(img.rgba, (y * img.width + x) * 4);
      counts[cy * cols + cx]++;
    }
  }
  return Array.from(cells, (v, i) => v / counts[i]);
}

/**
 * How alike two screens are: the share of grid cells where both agree on
 * "has ink" (mean brightness above `ink`). Text mode is 80×25 characters,
 * so a 40×25 grid puts about two characters in a cell.
 */
export function similarity(a, b, cols = 40, rows = 25, ink = 12) {
  const ga = grid(a, cols, rows);
  const gb = grid(b, cols, rows);
  let agree = 0;
  let inkA = 0;
  for (let i = 0; i < ga.length; i++) {
    if (ga[i] > ink) inkA++;
    if (ga[i] > ink === gb[i] > ink) agree++;
  }
  return { agree: agree / ga.length, inkCells: inkA };
}
