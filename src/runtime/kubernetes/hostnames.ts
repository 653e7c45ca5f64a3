// Which environment serves a hostname on the cluster, read from the namespaces'
// labels and annotations, and the one ownership rule of the core
// (core/ownership.ts conflictingClaim, the Docker runtime's and DNS's too)
// deciding whether a deploy may serve it.
import type { KubernetesObject } from "@kubernetes/client-node";
import {
  conflictingClaim,
  hostnameOwner,
  HostnameTakenError,
  type HostnameClaim,
  type HostnameOwner,
} from "../../core/ownership.ts";
import type { DeploySpec } from "../../core/spec.ts";
import { parseEnvironment, type Target } from "../../names.ts";
import { A, L } from "./objects.ts";

/** The target a namespace serves, from its annotations; undefined when they do not name one. */
export function namespaceTarget(ns: KubernetesObject): Target | undefined {
  const a = ns.metadata?.annotations ?? {};
  const owner = a[A.owner];
  const repo = a[A.repo];
  const envName = a[A.environment];
  if (!owner || !repo || !envName) return undefined;
  try {
    return { owner, repo, app: a[A.appKey] ?? "", environment: parseEnvironment(envName) };
  } catch {
    return undefined;
  }
}

/** The hostnames each namespace claims (namespaces being deleted claim nothing). */
export function namespaceClaims(namespaces: readonly KubernetesObject[]): HostnameClaim[] {
  const claims: HostnameClaim[] = [];
  for (const ns of namespaces) {
    if (ns.metadata?.deletionTimestamp) continue;
    const owner = namespaceOwner(ns);
    for (const hostname of ns.metadata?.annotations?.[A.hostnames]?.split(",") ?? [])
      if (hostname) claims.push({ hostname, owner });
  }
  return claims;
}

/** The refusal for the first of the spec's hostnames another environment serves, if any. */
export function hostnameConflict(
  spec: Pick<DeploySpec, "target" | "repositoryId" | "hostnames">,
  namespaces: readonly KubernetesObject[],
): HostnameTakenError | undefined {
  const self = hostnameOwner(spec.target, spec.repositoryId);
  const claims = namespaceClaims(namespaces);
  for (const hostname of spec.hostnames) {
    const clash = conflictingClaim(hostname, self, claims, "environment");
    if (clash) return new HostnameTakenError(clash.hostname, clash.owner);
  }
  return undefined;
}

function namespaceOwner(ns: KubernetesObject): HostnameOwner {
  const repositoryId = Number(ns.metadata?.labels?.[L.repositoryId] ?? 0);
  const target = namespaceTarget(ns);
  if (target) return hostnameOwner(target, repositoryId);
  // Labelled for the hostname but not naming its environment: still an owner, never this deploy.
  const name = ns.metadata?.name ?? "?";
  return { repositoryId, key: `namespace/${name}`, display: `namespace ${name}` };
}
