// Builds the fleet runtime from the operator's cluster registry (PAAS_CLUSTERS,
// src/settings/clusters.ts): one Kubernetes runtime per cluster, each with the
// App's PAAS_K8S_* settings and the cluster's own overrides.
import { KubeConfig } from "@kubernetes/client-node";
import { createKubernetesRuntime, type LeaseLock } from "../kubernetes/index.ts";
import { FleetError, FleetRuntime, type FleetMember } from "./runtime.ts";

export { FleetRuntime, FleetError, firstOfEach, type FleetMember, type MemberRuntime } from "./runtime.ts";

/** How to reach one registered cluster (src/settings/clusters.ts reads them from PAAS_CLUSTERS). */
export interface ClusterConnection {
  name: string;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  inCluster?: boolean | undefined;
  detailsUrl?: string | undefined;
  /** PAAS_K8S_* of this cluster, over the App's. */
  env: Record<string, string>;
}

/** The cluster's credentials: its kubeconfig file (and context), or the App's own service account. */
export function clusterKubeConfig(c: ClusterConnection): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (c.inCluster) kc.loadFromCluster();
    else kc.loadFromFile(c.kubeconfig!);
    if (c.context) kc.setCurrentContext(c.context);
  } catch (e) {
    throw new FleetError(
      `cluster "${c.name}": cannot load ${c.inCluster ? "the in-cluster service account" : c.kubeconfig} (${(e as Error).message.split("\n")[0]}); fix its entry in PAAS_CLUSTERS`,
    );
  }
  if (!kc.getCurrentCluster())
    throw new FleetError(
      `cluster "${c.name}": the kubeconfig has no current cluster; set context in PAAS_CLUSTERS`,
    );
  return kc;
}

/** The fleet, and the cross-replica lock of the default cluster when a lease namespace is set. */
export function createFleetRuntime(
  env: Record<string, string | undefined>,
  clusters: {
    clusters: readonly ClusterConnection[];
    registry: { defaultCluster: string };
    unreachable?: { retries: number; delayMs: number } | undefined;
  },
): { runtime: FleetRuntime; lock: LeaseLock | undefined } {
  let lock: LeaseLock | undefined;
  const members: FleetMember[] = clusters.clusters.map((c) => {
    const k8s = createKubernetesRuntime({ ...env, ...c.env }, clusterKubeConfig(c));
    if (c.name === clusters.registry.defaultCluster) lock = k8s.lock;
    return { name: c.name, runtime: k8s.runtime, detailsUrl: c.detailsUrl };
  });
  return {
    runtime: new FleetRuntime({
      members,
      defaultCluster: clusters.registry.defaultCluster,
      unreachableRetries: clusters.unreachable?.retries,
      unreachableDelayMs: clusters.unreachable?.delayMs,
    }),
    lock,
  };
}
