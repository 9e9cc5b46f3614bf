/**
 * Checks that need the live host (DESIGN.md §2): the interface exists, and
 * SNAT addresses are local. The caller gathers the facts (netlink, `ip -j`)
 * and chooses the severity: 'error' at run time, 'warning' under --check
 * (the file may be meant for another host). Pure.
 */
import { finding, type ConfigFinding, type Severity } from './config-issue.js';
import { asList, asString, field } from './read-field.js';

export interface HostFacts {
  /** Interface names in the agent's network namespace. */
  readonly interfaces: readonly string[];
  /** IPv4 addresses configured on any interface of that namespace. */
  readonly localAddresses: readonly string[];
}

export function checkHostFacts(data: unknown, facts: HostFacts, severity: Severity): ConfigFinding[] {
  const out: ConfigFinding[] = [];
  const name = asString(field(data, 'interface'));
  if (name !== undefined && !facts.interfaces.includes(name)) {
    out.push(finding('host-interface', ['interface'], `interface "${name}" does not exist in this network namespace`, { severity }));
  }
  // With vip_announce: arp the agent adds missing SNAT addresses itself.
  if (asString(field(data, 'vip_announce')) === 'none') {
    const local = new Set(facts.localAddresses);
    asList(field(field(data, 'snat'), 'addresses')).forEach((value, k) => {
      const address = asString(value);
      if (address !== undefined && !local.has(address)) {
        out.push(
          finding(
            'host-snat-address',
            ['snat', 'addresses', k],
            `SNAT address ${address} is not an address of this host, and with vip_announce: none the agent does not add it`,
            { severity },
          ),
        );
      }
    });
  }
  return out;
}
