// The secret values an earlier hand-off delivered to an environment, read back
// from the environment of the containers that serve it (src/runtime/secret-values.ts
// says where they rank). The containers' label paas.secrets.delivered records
// which of their variables a hand-off delivered; it is set at creation with the
// values, so the two cannot disagree. Only the target's own namespace is read,
// and its containers go with a destroy, so values never cross environments.
import { parseDeliveredNames } from "../secret-values.ts";
import type { DockerContext } from "./context.ts";
import { currentGeneration } from "./managed.ts";
import { L } from "./plan.ts";

/**
 * Name → value of the `wanted` secrets (those this deploy's hand-off did not deliver) that an
 * earlier hand-off delivered to the environment; empty when none (or no container yet).
 */
export async function keptSecretValues(
  ctx: DockerContext,
  ns: string,
  o: { repositoryId: number; wanted: readonly string[] },
): Promise<Record<string, string>> {
  if (o.wanted.length === 0) return {};
  const current = await currentGeneration(ctx, ns);
  // Another repository's containers under this name hold nothing of this one's.
  if (!current || current.labels[L.repositoryId] !== o.repositoryId) return {};
  const names = parseDeliveredNames(current.labels[L.deliveredSecrets]).filter((n) => o.wanted.includes(n));
  if (names.length === 0) return {};
  const env = (await ctx.docker.getContainer(current.containers[0]!.id).inspect()).Config.Env ?? [];
  const wanted = new Set(names);
  // A Map, not a plain object: a secret named __proto__ or toString is a name like any other.
  const out = new Map<string, string>();
  for (const kv of env) {
    const at = kv.indexOf("=");
    if (at > 0 && wanted.has(kv.slice(0, at))) out.set(kv.slice(0, at), kv.slice(at + 1));
  }
  return Object.fromEntries(out);
}
