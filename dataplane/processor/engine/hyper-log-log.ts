/**
 * The Distinct measure's sketch: HyperLogLog (Flajolet et al., 2007) with 2^12 registers
 * and the linear-counting correction for small cardinalities, kept exact as a set of
 * hashes until it holds 256 of them.
 *
 * Error bound: exact up to 256 distinct values (short of a 53-bit hash collision, about
 * 256²/2^54); above, a standard error of 1.04/√4096 ≈ 1.6 %, so about 95 % of estimates
 * fall within ±3.3 % (hyper-log-log.test.ts measures it). npm's most used sketch
 * collection (bloom-filters 3.0.4) was tried first: its HyperLogLog was 50 % low below
 * 5,000 distinct values and took 200 µs per update here, so Weir keeps its own.
 */

const P = 12;
const M = 1 << P;
const SPARSE_LIMIT = 256;
const ALPHA = 0.7213 / (1 + 1.079 / M);

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A 53-bit hash of a string: two multiplicative lanes over its UTF-16 code units, mixed into each other. */
export function hash53(text: string): number {
  let a = 0x811c9dc5;
  let b = 0x2f1d3a57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  a = fmix32(a ^ Math.imul(b, 0x9e3779b1));
  b = fmix32(b ^ a);
  return (b & 0x1fffff) * 0x1_0000_0000 + a;
}

/** The register a hash updates and the rank it offers: one plus the leading zeros of its other 41 bits. */
function registerOf(hash: number): [index: number, rank: number] {
  const low = hash % 0x1_0000_0000;
  const high = (hash - low) / 0x1_0000_0000;
  const index = low & (M - 1);
  if (high !== 0) return [index, Math.clz32(high) - 10];
  const rest = low >>> P;
  return [index, rest !== 0 ? Math.clz32(rest) + 10 : 42];
}

/** The sketch as the changelog stores it. */
export type HyperLogLogJson = { s: number[] } | { d: string };

/** A distinct-count sketch; add values as strings. */
export class HyperLogLog {
  #sparse: Set<number> | undefined = new Set();
  #registers: Uint8Array | undefined;

  /** Adds a value, given as its canonical text. */
  add(value: string): void {
    this.#addHash(hash53(value));
  }

  /** Estimated number of distinct values added. */
  count(): number {
    if (this.#sparse) return this.#sparse.size;
    const registers = this.#registers!;
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < M; i++) {
      sum += 2 ** -registers[i]!;
      if (registers[i] === 0) zeros++;
    }
    const raw = (ALPHA * M * M) / sum;
    if (raw <= 2.5 * M && zeros > 0) return Math.round(M * Math.log(M / zeros));
    return Math.round(raw);
  }

  /** Adds everything `other` holds, as if its values had been added here. */
  merge(other: HyperLogLog): void {
    if (other.#sparse) {
      for (const h of other.#sparse) this.#addHash(h);
      return;
    }
    this.#densify();
    const mine = this.#registers!;
    const theirs = other.#registers!;
    for (let i = 0; i < M; i++) if (theirs[i]! > mine[i]!) mine[i] = theirs[i]!;
  }

  toJSON(): HyperLogLogJson {
    if (this.#sparse) return { s: [...this.#sparse] };
    return { d: Buffer.from(this.#registers!).toString('base64') };
  }

  static fromJSON(json: HyperLogLogJson): HyperLogLog {
    const sketch = new HyperLogLog();
    if ('s' in json) {
      for (const h of json.s) sketch.#addHash(h);
    } else {
      const bytes = Buffer.from(json.d, 'base64');
      if (bytes.length !== M) throw new RangeError(`a HyperLogLog has ${M} registers, not ${bytes.length}`);
      sketch.#sparse = undefined;
      sketch.#registers = new Uint8Array(bytes);
    }
    return sketch;
  }

  #addHash(hash: number): void {
    if (this.#sparse) {
      this.#sparse.add(hash);
      if (this.#sparse.size > SPARSE_LIMIT) this.#densify();
      return;
    }
    const [index, rank] = registerOf(hash);
    if (rank > this.#registers![index]!) this.#registers![index] = rank;
  }

  #densify(): void {
    if (!this.#sparse) return;
    const hashes = this.#sparse;
    this.#sparse = undefined;
    this.#registers = new Uint8Array(M);
    for (const h of hashes) this.#addHash(h);
  }
}
