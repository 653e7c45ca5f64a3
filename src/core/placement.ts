// Where a deploy runs when the operator registered several clusters
// (PAAS_CLUSTERS, src/settings/clusters.ts): pure, (registry, environment's
// config, target) → ordered waves of cluster names. The environment's
// `clusters` and `rollout` keys come from the default branch's .paas.yml like
// every authority key (src/deploy/authorize.ts), so a branch cannot send itself
// to more clusters or skip the canary.
import type { AppConfig, ClusterTargets, RolloutConfig, Wave } from "../config/schema.ts";
import type { Target } from "../names.ts";
import { PlanError } from "./plan.ts";

/** The clusters the operator registered, as the planner sees them (no credentials). */
export interface ClusterRegistry {
  /** In the operator's order: a wave given as a count or share takes the first ones. */
  clusters: readonly { name: string; labels: Readonly<Record<string, string>> }[];
  groups: Readonly<Record<string, readonly string[]>>;
  /** Previews, and environments that name no clusters, run here. */
  defaultCluster: string;
}

/** Which clusters a deploy reaches and in what order. */
export interface Placement {
  /** Non-empty waves; every cluster appears once. */
  waves: string[][];
  /** Clusters deployed at once within a wave. */
  concurrency: number;
}

export const DEFAULT_CONCURRENCY = 5;

export function placeEnvironment(
  registry: ClusterRegistry,
  target: Target,
  config: Pick<AppConfig, "environments">,
): Placement {
  const env = target.environment;
  if (env.kind === "preview") return { waves: [[registry.defaultCluster]], concurrency: 1 };
  const named = Object.hasOwn(config.environments, env.name) ? config.environments[env.name] : undefined;
  const selected =
    named?.clusters === undefined
      ? [registry.defaultCluster]
      : selectClusters(registry, named.clusters, env.name);
  return planWaves(selected, named?.rollout, env.name);
}

/** The registered clusters an environment's `clusters` key names, in the operator's order. */
export function selectClusters(registry: ClusterRegistry, want: ClusterTargets, envName: string): string[] {
  const known = new Set(registry.clusters.map((c) => c.name));
  const where = `environments.${envName}.clusters`;
  let names: Set<string>;
  if (typeof want === "string") {
    if (Object.hasOwn(registry.groups, want)) names = new Set(registry.groups[want]);
    else if (known.has(want)) names = new Set([want]);
    else
      throw new PlanError(
        `${where}: "${want}" is neither a registered cluster nor a group; ${registered(registry)}`,
      );
  } else if (Array.isArray(want)) {
    const unknown = want.filter((n) => !known.has(n));
    if (unknown.length > 0)
      throw new PlanError(
        `${where}: ${unknown.map((n) => `"${n}"`).join(", ")} not registered; ${registered(registry)}`,
      );
    names = new Set(want);
  } else {
    const entries = Object.entries(want.selector);
    names = new Set(
      registry.clusters.filter((c) => entries.every(([k, v]) => c.labels[k] === v)).map((c) => c.name),
    );
    if (names.size === 0) {
      const sel = entries.map(([k, v]) => `${k}=${v}`).join(",");
      throw new PlanError(`${where}: no registered cluster has the labels ${sel}; ${registered(registry)}`);
    }
  }
  return registry.clusters.map((c) => c.name).filter((n) => names.has(n));
}

/** Cumulative waves → disjoint waves over `clusters` (in order); the rest form a last wave. */
export function planWaves(
  clusters: readonly string[],
  rollout: RolloutConfig | undefined,
  envName: string,
): Placement {
  const concurrency = rollout?.concurrency ?? DEFAULT_CONCURRENCY;
  const specs: readonly Wave[] = rollout?.waves ?? [];
  const waves: string[][] = [];
  const placed = new Set<string>();
  const total = clusters.length;
  for (const [i, w] of specs.entries()) {
    let wave: string[];
    if (Array.isArray(w)) {
      const outside = w.filter((n) => !clusters.includes(n));
      if (outside.length > 0)
        throw new PlanError(
          `environments.${envName}.rollout.waves[${i}]: ${outside.map((n) => `"${n}"`).join(", ")} not among the environment's clusters (${clusters.join(", ")})`,
        );
      wave = w.filter((n) => !placed.has(n));
    } else {
      const upTo =
        typeof w === "number" ? Math.min(w, total) : Math.ceil((total * Number(w.slice(0, -1))) / 100);
      wave = clusters.filter((n) => !placed.has(n)).slice(0, Math.max(0, upTo - placed.size));
    }
    // A wave that adds nothing (a share already reached) is dropped, not run empty.
    if (wave.length === 0) continue;
    for (const n of wave) placed.add(n);
    waves.push([...new Set(wave)]);
  }
  const rest = clusters.filter((n) => !placed.has(n));
  if (rest.length > 0) waves.push(rest);
  return { waves, concurrency };
}

function registered(r: ClusterRegistry): string {
  const groups = Object.keys(r.groups);
  return `registered clusters: ${r.clusters.map((c) => c.name).join(", ")}${groups.length ? `; groups: ${groups.join(", ")}` : ""}`;
}
