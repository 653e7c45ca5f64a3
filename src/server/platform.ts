// Builds what the App deploys with from the operator's environment: the
// runtime named by PAAS_RUNTIME, the DNS provider, and (in a cluster) the
// cross-replica lock. Each part reads and validates its own variables.
import { claimsFromRuntime, createDnsProvider } from "../dns/index.ts";
import type { DnsProvider } from "../dns/types.ts";
import { createDockerRuntime, dockerSettingsFromEnv } from "../runtime/docker/index.ts";
import { createFleetRuntime } from "../runtime/fleet/index.ts";
import { createKubernetesRuntime } from "../runtime/kubernetes/index.ts";
import { readClusters } from "../settings/clusters.ts";
import type { Runtime } from "../runtime/types.ts";
import type { Lock } from "../app/lock.ts";
import type { Settings } from "../settings/app.ts";

export interface Platform {
  runtime: Runtime;
  dns: DnsProvider;
  /** Cross-replica lock (Kubernetes Lease) when configured; else the App uses an in-process lock. */
  lock: Lock | undefined;
  /** Checks the runtime's prerequisites (engine and Caddy reachable); throws with the fix. */
  check(): Promise<void>;
  /** Work the App runs while it serves: the Docker runtime's scheduled jobs (runtime/docker/cron.ts). */
  background?: { start(): void; stop(): Promise<void> } | undefined;
}

export function createPlatform(settings: Settings, env: Record<string, string | undefined>): Platform {
  let runtime: Runtime;
  let lock: Lock | undefined;
  let check: () => Promise<void> = async () => {};
  let background: Platform["background"];
  if (settings.runtime === "docker") {
    const docker = createDockerRuntime(dockerSettingsFromEnv(env));
    runtime = docker.runtime;
    check = () => docker.check();
    // Kubernetes runs CronJobs itself; on one host the App is the scheduler.
    background = docker.cron;
  } else {
    // Several registered clusters: one runtime per cluster, deployed in waves (runtime/fleet).
    const clusters = readClusters(env);
    const k8s =
      clusters && "registry" in clusters ? createFleetRuntime(env, clusters) : createKubernetesRuntime(env);
    runtime = k8s.runtime;
    const lease = k8s.lock;
    if (lease) {
      lock = {
        async acquire(key) {
          const held = await lease.acquire(key);
          return () => void held.release();
        },
      };
    }
  }
  const dns = createDnsProvider(settings.dns, { claims: claimsFromRuntime(runtime) });
  return { runtime, dns, lock, check, background };
}
