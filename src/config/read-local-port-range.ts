/**
 * Reads net.ipv4.ip_local_port_range of the current network namespace (the
 * ports the kernel picks for the host's own outgoing connections), an input
 * of the semantic checks: the SNAT pool must stay out of it.
 */
import { readFile } from 'node:fs/promises';

export const LOCAL_PORT_RANGE_PATH = '/proc/sys/net/ipv4/ip_local_port_range';

/** "32768\t60999\n" -> [32768, 60999]; rejects if the file is missing or malformed. */
export async function readLocalPortRange(path: string = LOCAL_PORT_RANGE_PATH): Promise<[number, number]> {
  const text = await readFile(path, 'utf8');
  return parseLocalPortRange(text, path);
}

export function parseLocalPortRange(text: string, path: string = LOCAL_PORT_RANGE_PATH): [number, number] {
  const match = /^\s*([0-9]+)\s+([0-9]+)\s*$/.exec(text);
  const low = Number(match?.[1]);
  const high = Number(match?.[2]);
  if (match === null || !(low >= 1 && low <= high && high <= 65535)) {
    throw new Error(`${path}: expected two port numbers "LOW HIGH", got ${JSON.stringify(text.trim())}`);
  }
  return [low, high];
}
