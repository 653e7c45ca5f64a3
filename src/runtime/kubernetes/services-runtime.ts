// The Kubernetes runtime's add-on service steps around the pure plan
// (services.ts): credentials read back from each service's Secret (generated
// the first time), the wait until every service is ready before the app's
// Deployment is applied, and the deletion the default branch confirmed
// (`remove: confirm`: the claim and the Secret; the StatefulSet is pruned).
import { randomBytes } from "node:crypto";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { DeploySpec } from "../../core/spec.ts";
import type { KubeClient } from "./client.ts";
import { PASSWORD_KEY, serviceClaimName, serviceSecretName } from "./services.ts";

/** Each service's password: the one its Secret holds, or a new one for a service seen the first time. */
export async function servicePasswords(
  client: KubeClient,
  ns: string,
  spec: Pick<DeploySpec, "services">,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (spec.services.length === 0) return out;
  // A new environment has nothing to read back (and the App may read Secrets only in the
  // namespaces it bound itself a reader in, which do not exist yet).
  const exists = await client.read("v1", "Namespace", undefined, ns);
  for (const s of spec.services) {
    const secret = !exists
      ? undefined
      : await client.read<KubernetesObject & { data?: Record<string, string> }>(
          "v1",
          "Secret",
          ns,
          serviceSecretName(s.name),
        );
    const kept = secret?.data?.[PASSWORD_KEY];
    out[s.name] = kept ? Buffer.from(kept, "base64").toString("utf8") : randomBytes(24).toString("hex");
  }
  return out;
}

interface StatefulSetLike {
  metadata?: { generation?: number };
  status?: {
    observedGeneration?: number;
    readyReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
}

/** A service's StatefulSet runs its current revision, ready (a deploy and a wake wait for this). */
export function serviceSetReady(set: StatefulSetLike | undefined): boolean {
  const st = set?.status;
  return (
    !!st &&
    (st.observedGeneration ?? 0) >= (set.metadata?.generation ?? 1) &&
    (st.readyReplicas ?? 0) >= 1 &&
    st.currentRevision === st.updateRevision
  );
}

/** Waits until every service's StatefulSet runs its current revision, ready; a reason when it does not in time. */
export async function waitServicesReady(
  client: KubeClient,
  ns: string,
  spec: Pick<DeploySpec, "services">,
  o: { timeoutMs: number; pollMs: number; signal?: AbortSignal | undefined },
): Promise<string | undefined> {
  const deadline = Date.now() + o.timeoutMs;
  for (const s of spec.services) {
    for (;;) {
      o.signal?.throwIfAborted();
      const set = await client.read<KubernetesObject & StatefulSetLike>("apps/v1", "StatefulSet", ns, s.name);
      if (serviceSetReady(set)) break;
      if (Date.now() > deadline) {
        return `service ${s.name} (${s.type}) was not ready within ${Math.round(o.timeoutMs / 1000)}s: the app was not started (kubectl -n ${ns} describe statefulset ${s.name})`;
      }
      await new Promise((r) => setTimeout(r, o.pollMs));
    }
  }
  return undefined;
}

/** Deletes the data and credentials of services whose removal the default branch confirmed. */
export async function deleteConfirmedServices(
  client: KubeClient,
  ns: string,
  spec: Pick<DeploySpec, "deleteServices">,
): Promise<string[]> {
  const notes: string[] = [];
  for (const name of spec.deleteServices) {
    const claim = await client.delete({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: serviceClaimName(name), namespace: ns },
    });
    await client.delete({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: serviceSecretName(name), namespace: ns },
    });
    if (claim) notes.push(`service ${name} and its data were deleted (remove: confirm)`);
  }
  return notes;
}
