// Removing one environment, the same way for a closed pull request's preview
// (the deployer) and for an orphan (the reconciler): DNS records first, then
// the runtime's objects, because the runtime's labels are how a pass after a
// crash finds the hostnames again.
import { hostnameOwner } from "../core/ownership.ts";
import type { RuntimeEnvironment } from "../core/spec.ts";
import type { DnsProvider } from "../dns/types.ts";
import type { Runtime } from "../runtime/types.ts";

export interface TeardownPorts {
  dns: Pick<DnsProvider, "remove">;
  runtime: Pick<Runtime, "destroy">;
}

export async function removeEnvironment(e: RuntimeEnvironment, ports: TeardownPorts): Promise<void> {
  const owner = hostnameOwner(e.target, e.repositoryId);
  for (const h of e.hostnames) await ports.dns.remove(h, owner);
  await ports.runtime.destroy(e.target);
}
