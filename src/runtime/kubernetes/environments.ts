// The environments a cluster runs, read back from their namespaces' labels and
// annotations and their web Deployments: its own module because reconciliation
// and the preview TTL read it, apart from any deploy.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { RuntimeEnvironment } from "../types.ts";
import type { KubeClient } from "./client.ts";
import { namespaceTarget } from "./hostnames.ts";
import { A, L, MANAGED_BY, WORKLOAD } from "./objects.ts";
import { rolloutStatus, type DeploymentLike } from "./rollout.ts";

/**
 * Every environment the platform manages in the cluster (namespaces being deleted excepted).
 * With `instance`, those of another instance, or of none, are marked foreign.
 */
export async function listEnvironments(client: KubeClient, instance?: string): Promise<RuntimeEnvironment[]> {
  const selector = `${MANAGED_BY}=paas`;
  const [namespaces, deployments] = await Promise.all([
    client.list("v1", "Namespace", undefined, selector),
    client.list<KubernetesObject & DeploymentLike>("apps/v1", "Deployment", undefined, selector),
  ]);
  // The web Deployment says whether the environment serves (workers have their own).
  const byNs = new Map(
    deployments.filter((d) => d.metadata?.name === WORKLOAD).map((d) => [d.metadata?.namespace, d]),
  );
  const out: RuntimeEnvironment[] = [];
  for (const ns of namespaces) {
    const a = ns.metadata?.annotations ?? {};
    const l = ns.metadata?.labels ?? {};
    const target = namespaceTarget(ns);
    if (ns.metadata?.deletionTimestamp || !target) continue;
    const d = byNs.get(ns.metadata?.name);
    const deployedAt = a[A.deployedAt];
    out.push({
      target,
      repositoryId: Number(l[L.repositoryId]),
      appName: a[A.appName] ?? l[L.app] ?? "",
      sha: a[A.sha] ?? "",
      digest: a[A.digest] ?? "",
      hostnames: a[A.hostnames]?.split(",").filter(Boolean) ?? [],
      url: a[A.url],
      deployedAt,
      healthy: d ? rolloutStatus(d).state === "done" : false,
      ...(instance === undefined ? {} : { foreign: l[L.instance] !== instance }),
    });
  }
  return out;
}
