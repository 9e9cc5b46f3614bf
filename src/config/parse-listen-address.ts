/** "ADDRESS:PORT" listen addresses (metrics.listen), IPv4 only. Pure. */
import { ipv4ToNumber } from '../model/ipv4.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Host and port, or a reason the text is not a usable IPv4 listen address. */
export function parseListenAddress(text: string): ListenAddress | { readonly problem: string } {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { problem: 'expected IPv4ADDRESS:PORT like 127.0.0.1:9740' };
  const host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (ipv4ToNumber(host) === undefined) return { problem: `${JSON.stringify(host)} is not an IPv4 address` };
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return { problem: `port ${JSON.stringify(portText)} must be between 1 and 65535` };
  return { host, port };
}
