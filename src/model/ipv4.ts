/**
 * IPv4 addresses as the model stores them: dotted-quad strings ("198.18.0.10"),
 * already validated. These helpers give them a numeric order and a class.
 * Pure.
 */

/** The address as an unsigned 32-bit number, or undefined if it is not a dotted quad (no leading zeros). */
export function ipv4ToNumber(address: string): number | undefined {
  // A hand-rolled scan: this runs for every address of every reload.
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined; // leading zero
      octet = octet * 10 + (c - 48);
      digits++;
      if (octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (digits === 0 || dots !== 3) return undefined;
  return value * 256 + octet;
}

/** Numeric order of two dotted quads (198.18.0.2 before 198.18.0.10). */
export function compareIpv4(a: string, b: string): number {
  return (ipv4ToNumber(a) ?? -1) - (ipv4ToNumber(b) ?? -1);
}

/**
 * Why an address cannot be a VIP, backend or SNAT address, or undefined when
 * it is an ordinary unicast address.
 */
export function nonUnicastReason(address: string): string | undefined {
  const n = ipv4ToNumber(address);
  return n === undefined ? 'is not an IPv4 address' : nonUnicastReasonOf(n);
}

/** nonUnicastReason of an address already made a number (ipv4ToNumber), for callers that need the number too. */
export function nonUnicastReasonOf(n: number): string | undefined {
  const first = Math.floor(n / 0x1000000);
  if (n === 0xffffffff) return 'is the broadcast address';
  if (first === 0) return 'is in 0.0.0.0/8 ("this network")';
  if (first === 127) return 'is a loopback address (127.0.0.0/8)';
  if (first >= 224 && first <= 239) return 'is a multicast address (224.0.0.0/4)';
  if (first >= 240) return 'is a reserved address (240.0.0.0/4)';
  return undefined;
}
