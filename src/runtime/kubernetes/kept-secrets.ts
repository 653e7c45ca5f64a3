// The secret values an earlier hand-off delivered to an environment, read back
// from that environment's own Secret (src/runtime/secret-values.ts says where
// they rank). The Secret records which of its keys a hand-off delivered (the
// annotation is written with the values, in one apply); the namespace carries
// the same names so a deploy reads the Secret only when there is something to
// keep. Its own module because it is the one read of an app's Secret.
import type { KubernetesObject } from "@kubernetes/client-node";
import { PaasError } from "../../errors.ts";
import { parseDeliveredNames } from "../secret-values.ts";
import { KubernetesApiError, type KubeClient } from "./client.ts";
import { A, L, SECRET_NAME } from "./objects.ts";

interface SecretObject extends KubernetesObject {
  data?: Record<string, string>;
}

/**
 * Name → value of the `wanted` secrets (those this deploy's hand-off did not deliver) that an
 * earlier hand-off delivered to the environment; empty when none (or no environment yet).
 */
export async function keptSecretValues(
  client: KubeClient,
  ns: string,
  o: { repositoryId: number; wanted: readonly string[] },
): Promise<Record<string, string>> {
  if (o.wanted.length === 0) return {};
  const namespace = await client.read("v1", "Namespace", undefined, ns);
  const owner = namespace?.metadata?.labels?.[L.repositoryId];
  // Another repository's namespace holds nothing of this one's (the rollout refuses it anyway).
  if (!namespace || (owner !== undefined && owner !== String(o.repositoryId))) return {};
  const recorded = parseDeliveredNames(namespace.metadata?.annotations?.[A.deliveredSecrets]);
  if (!recorded.some((n) => o.wanted.includes(n))) return {};
  return readKept(client, ns, o.wanted);
}

/** The `wanted` names the environment's Secret records as delivered, with their values (its namespace checked by the caller). */
export async function readKept(
  client: KubeClient,
  ns: string,
  wanted: readonly string[],
): Promise<Record<string, string>> {
  let secret: SecretObject | undefined;
  try {
    secret = await client.read<SecretObject>("v1", "Secret", ns, SECRET_NAME);
  } catch (e) {
    if (!(e instanceof KubernetesApiError) || e.status !== 403) throw e;
    // Names only: the values are what could not be read.
    throw new PaasError(
      "secrets_unreadable",
      `the values delivered to this environment by an earlier workflow job are kept in Secret ${ns}/${SECRET_NAME}, ` +
        "which the App may not read: set PAAS_K8S_SERVICE_ACCOUNT to the App's ServiceAccount (<namespace>/<name>) so " +
        "each environment binds it paas-tenant-reader (k8s/rbac.yaml), or re-run the workflow job to deliver them again",
      { cause: e },
    );
  }
  const data = secret?.data ?? {};
  // A Map, not a plain object: a secret named __proto__ or toString is a name like any other.
  const out = new Map<string, string>();
  for (const name of parseDeliveredNames(secret?.metadata?.annotations?.[A.deliveredSecrets])) {
    if (wanted.includes(name) && Object.hasOwn(data, name))
      out.set(name, Buffer.from(data[name]!, "base64").toString("utf8"));
  }
  return Object.fromEntries(out);
}
