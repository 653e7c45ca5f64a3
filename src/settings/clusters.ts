// The clusters the operator registers (PAAS_CLUSTERS: a YAML file), for one
// App driving many Kubernetes clusters (docs/clusters.md):
//
//   clusters:
//     - name: aceh                      # DNS label; what .paas.yml and `--cluster` name
//       kubeconfig: /etc/paas/aceh.yaml # or inCluster: true (the App's own cluster)
//       context: paas                   # optional: a context of that kubeconfig
//       labels: {region: sumatra}       # for `clusters: {selector: …}` in .paas.yml
//       detailsUrl: https://…           # optional: linked from the check run's table
//       env: {PAAS_K8S_GATEWAY: …}      # optional: PAAS_K8S_* of this cluster, over the App's
//   groups:
//     sumatra: [aceh, riau]
//   default: aceh                       # previews and environments naming no clusters; default the first
//   unreachable: {retries: 4, delay: 5s} # an API server that does not answer: tried again, backing off
//
// The planner sees only names, labels and groups (core/placement.ts); the
// connection settings stay here and in the runtime factory (runtime/fleet/index.ts).
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";
import { durationMs } from "../config/schema.ts";
import type { ClusterRegistry } from "../core/placement.ts";

const dnsLabel = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

const cluster = z
  .strictObject({
    name: z.string().regex(dnsLabel, "must be a lowercase DNS label such as aceh or jakarta-1"),
    kubeconfig: z.string().min(1).optional(),
    context: z.string().min(1).optional(),
    inCluster: z.boolean().optional(),
    labels: z
      .record(
        z.string(),
        z.string().regex(/^(?:[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,61}[a-zA-Z0-9])?)?$/, "must be a label value"),
      )
      // A key's own message: zod's record keys only say "Invalid key in record".
      .refine(
        (l) => Object.keys(l).every((k) => /^[a-z0-9A-Z]([-a-zA-Z0-9_./]{0,61}[a-zA-Z0-9])?$/.test(k)),
        "keys must be label keys such as region",
      )
      .default({}),
    detailsUrl: z.url({ protocol: /^https?$/ }).optional(),
    env: z
      .record(z.string(), z.string())
      .refine(
        (e) => Object.keys(e).every((k) => /^PAAS_K8S_[A-Z_]+$/.test(k)),
        "only PAAS_K8S_* variables may differ per cluster",
      )
      .default({}),
  })
  .refine((c) => (c.kubeconfig !== undefined) !== (c.inCluster === true), {
    message: "needs exactly one of kubeconfig (a file path) or inCluster: true",
  });

export const clustersFileSchema = z
  .strictObject({
    clusters: z.array(cluster).min(1, "must list at least one cluster").max(1000),
    groups: z
      .record(z.string(), z.array(z.string()).min(1))
      .refine((g) => Object.keys(g).every((k) => dnsLabel.test(k)), "names must be DNS labels")
      .default({}),
    default: z.string().optional(),
    unreachable: z
      .strictObject({
        retries: z.number().int().min(0).max(20).default(4),
        delay: z
          .string()
          .regex(/^\d+(ms|s|m)$/, 'must be a duration such as "5s"')
          .default("5s"),
      })
      .prefault({})
      .describe(
        "A cluster whose API server does not answer: attempts again this many times, waiting delay, doubled each time.",
      ),
  })
  .superRefine((f, ctx) => {
    const names = new Set<string>();
    for (const [i, c] of f.clusters.entries()) {
      if (names.has(c.name))
        ctx.addIssue({
          code: "custom",
          path: ["clusters", i, "name"],
          message: `"${c.name}" is listed twice`,
        });
      names.add(c.name);
    }
    for (const [g, members] of Object.entries(f.groups)) {
      if (names.has(g))
        ctx.addIssue({
          code: "custom",
          path: ["groups", g],
          message: "is also a cluster's name; choose another",
        });
      for (const m of members)
        if (!names.has(m))
          ctx.addIssue({
            code: "custom",
            path: ["groups", g],
            message: `names "${m}", which is not a listed cluster`,
          });
    }
    if (f.default !== undefined && !names.has(f.default))
      ctx.addIssue({ code: "custom", path: ["default"], message: `"${f.default}" is not a listed cluster` });
  });

export type ClusterEntry = z.output<typeof cluster>;

export interface ClustersSettings {
  registry: ClusterRegistry;
  clusters: ClusterEntry[];
  unreachable: { retries: number; delayMs: number };
  /** The file they were read from (for messages). */
  file: string;
}

/**
 * Reads PAAS_CLUSTERS; undefined when it is not set. Problems name the file, the key and the fix;
 * relative kubeconfig paths are resolved against the file's folder.
 */
export function readClusters(
  env: Record<string, string | undefined>,
): ClustersSettings | { problems: string[] } | undefined {
  const file = env.PAAS_CLUSTERS?.trim();
  if (!file) return undefined;
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, "utf8"));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      problems: [
        (e as Error).name !== "YAMLParseError"
          ? `PAAS_CLUSTERS cannot read ${file} (${code}): point it at the YAML file listing the clusters (docs/clusters.md)`
          : `PAAS_CLUSTERS: ${file} is not valid YAML: ${(e as Error).message.split("\n")[0]}`,
      ],
    };
  }
  const parsed = clustersFileSchema.safeParse(raw);
  if (!parsed.success)
    return {
      problems: parsed.error.issues.map(
        (i) => `PAAS_CLUSTERS ${file}: ${i.path.map(String).join(".") || "(top level)"} ${i.message}`,
      ),
    };
  const f = parsed.data;
  const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/") + 1) : "./";
  const clusters = f.clusters.map((c) =>
    c.kubeconfig && !c.kubeconfig.startsWith("/") ? { ...c, kubeconfig: dir + c.kubeconfig } : c,
  );
  return {
    file,
    clusters,
    unreachable: { retries: f.unreachable.retries, delayMs: durationMs(f.unreachable.delay) },
    registry: {
      clusters: clusters.map((c) => ({ name: c.name, labels: c.labels })),
      groups: f.groups,
      defaultCluster: f.default ?? clusters[0]!.name,
    },
  };
}
