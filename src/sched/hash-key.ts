/**
 * A small deterministic string hash for Maglev: FNV-1a 64 over the UTF-8
 * bytes of the key, starting from the FNV offset basis XOR a seed, followed
 * by a 64-bit avalanche finalizer (xor-shift / multiply) so every output bit
 * depends on every input bit — FNV alone mixes its last bytes poorly, and
 * keys like "198.18.0.2:80" / "198.18.0.3:80" differ in one byte.
 *
 * Fixed forever: changing it reshuffles every Maglev table, and balancers
 * sharing a VIP must agree on it.
 */
const MASK64 = 0xffffffffffffffffn;
const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;

/** The two seeds of the Maglev offset and skip hashes. */
export const MAGLEV_SEED_OFFSET = 0x58445034534c4231n; // "XDP4SLB1"
export const MAGLEV_SEED_SKIP = 0x58445034534c4232n; // "XDP4SLB2"

const encoder = new TextEncoder();

export function hashKey64(key: string, seed: bigint): bigint {
  let h = (FNV64_OFFSET ^ seed) & MASK64;
  for (const byte of encoder.encode(key)) {
    h ^= BigInt(byte);
    h = (h * FNV64_PRIME) & MASK64;
  }
  h ^= h >> 33n;
  h = (h * 0xff51afd7ed558ccdn) & MASK64;
  h ^= h >> 33n;
  h = (h * 0xc4ceb9fe1a85ec53n) & MASK64;
  h ^= h >> 33n;
  return h;
}
