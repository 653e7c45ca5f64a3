// The keys of a long-lived environment that place it on the operator's
// registered clusters (PAAS_CLUSTERS) and order the rollout in waves
// (docs/clusters.md; planned by src/core/placement.ts).
import { z } from "zod";

// Many clusters (docs/clusters.md): names as the operator registers them (DNS labels).
const clusterName = z
  .string()
  .regex(/^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/, "a cluster or group name (lowercase letters, digits, -)");

export const clusterTargets = z.union([
  clusterName,
  z.array(clusterName).min(1).max(1000),
  z.strictObject({
    selector: z
      .record(
        z.string().regex(/^[a-z0-9A-Z]([-a-zA-Z0-9_./]{0,61}[a-zA-Z0-9])?$/, "a label key such as region"),
        z.string().regex(/^[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,61}[a-zA-Z0-9])?$|^$/, "a label value"),
      )
      .refine((s) => Object.keys(s).length > 0, "at least one label")
      .describe("Every registered cluster whose labels include all of these."),
  }),
]);

const wave = z
  .union([
    z
      .number()
      .int()
      .min(1)
      .max(1000)
      .describe("Clusters reached once this wave ends, counted from the start."),
    z
      .string()
      .regex(/^(?:100|[1-9][0-9]?)%$/, 'a share such as "25%"')
      .describe("Share of the environment's clusters reached once this wave ends (rounded up)."),
    z.array(clusterName).min(1).max(1000).describe("These clusters, by name."),
  ])
  .describe('A wave: a cumulative count (1), a cumulative share ("25%"), or a list of cluster names.');

export const rollout = z.strictObject({
  waves: z
    .array(wave)
    .min(1)
    .max(20)
    .optional()
    .describe(
      'Waves in order, e.g. [1, "25%", "100%"]: a canary cluster, then up to a quarter, then the rest (a last wave with the rest is implied). Each wave starts after every cluster of the one before serves the new version. Default: one wave with every cluster.',
    ),
  concurrency: z
    .number()
    .int()
    .min(1)
    .max(100)
    .default(5)
    .describe("Clusters deployed at once within a wave."),
});

export type ClusterTargets = z.output<typeof clusterTargets>;
export type RolloutConfig = z.output<typeof rollout>;
export type Wave = z.output<typeof wave>;
