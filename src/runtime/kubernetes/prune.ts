// The prune after an apply: deletes the objects of an environment that its new
// plan no longer has, by the kinds recorded on the namespace (like kubectl
// ApplySets). Its own module because it is the one place the runtime deletes
// parts of a live environment.
import type { KubernetesObject } from "@kubernetes/client-node";
import { KubernetesApiError, type KubeClient } from "./client.ts";
import { groupKind, MANAGED_BY, PULL_SECRET_NAME, SECRET_NAME, type KubeObject } from "./objects.ts";

/** Kinds the planner may emit, by group-kind, with their apiVersion (for prune listing). */
export const PRUNABLE: Record<string, string> = {
  ResourceQuota: "v1",
  LimitRange: "v1",
  ServiceAccount: "v1",
  ConfigMap: "v1",
  Secret: "v1",
  Service: "v1",
  "apps/Deployment": "apps/v1",
  // A service removed from .paas.yml: its set goes, its claim stays (persistentVolumeClaimRetentionPolicy).
  "apps/StatefulSet": "apps/v1",
  "batch/CronJob": "batch/v1",
  "networking.k8s.io/NetworkPolicy": "networking.k8s.io/v1",
  "networking.k8s.io/Ingress": "networking.k8s.io/v1",
  "gateway.networking.k8s.io/HTTPRoute": "gateway.networking.k8s.io/v1",
  "autoscaling/HorizontalPodAutoscaler": "autoscaling/v2",
  "policy/PodDisruptionBudget": "policy/v1",
  "rbac.authorization.k8s.io/RoleBinding": "rbac.authorization.k8s.io/v1",
};

/** Deletes objects of the environment that this plan no longer has. */
export async function pruneEnvironment(
  client: KubeClient,
  ns: string,
  objects: readonly KubeObject[],
  previousKinds: readonly string[],
): Promise<void> {
  const keep = new Set(objects.map((o) => `${groupKind(o)}/${o.metadata.name}`));
  const kinds = new Set([...previousKinds, ...objects.map(groupKind)].filter((gk) => gk in PRUNABLE));
  // Secrets are never listed (that would need cluster-wide read access to every Secret):
  // the plan only ever writes them by fixed names.
  kinds.delete("Secret");
  if (previousKinds.includes("Secret")) {
    for (const name of [SECRET_NAME, PULL_SECRET_NAME].filter((n) => !keep.has(`Secret/${n}`))) {
      await client.delete({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns } });
    }
  }
  await Promise.all(
    [...kinds].map(async (gk) => {
      const apiVersion = PRUNABLE[gk]!;
      const kind = gk.slice(gk.lastIndexOf("/") + 1);
      let items: KubernetesObject[];
      try {
        items = await client.list(apiVersion, kind, ns, `${MANAGED_BY}=paas`);
      } catch (e) {
        // A kind the cluster does not serve (no Gateway API) has nothing to prune.
        if (e instanceof KubernetesApiError && (e.reason === "NotServed" || e.status === 404)) return;
        throw e;
      }
      for (const item of items) {
        const name = item.metadata?.name ?? "";
        if (!keep.has(`${gk}/${name}`))
          await client.delete({ apiVersion, kind, metadata: { name, namespace: ns } });
      }
    }),
  );
}
