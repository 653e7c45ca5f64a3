// The operator's platform settings (base domain, URL scheme and port, resource
// ceilings), parsed once here from the environment. The App, `paas plan` and
// `paas deploy` all read them through platformSettingsFromEnv, so the dry run
// prints the URLs the App reports and refuses what the App refuses.
import { z } from "zod";
import { SERVICE_TYPES } from "../config/services.ts";
import { cpuMillis, memoryBytes, type PlatformSettings } from "../core/plan.ts";
import type { ServiceImages } from "../core/services.ts";
import { readClusters } from "./clusters.ts";
import { SettingsError } from "./errors.ts";

type Env = Record<string, string | undefined>;

export const optionalString = z
  .string()
  .transform((s) => s.trim())
  .optional()
  .transform((s) => (s === "" ? undefined : s));

export const positiveInt = (what: string) =>
  z
    .string()
    .regex(/^\d+$/, `must be a whole number (${what})`)
    .transform(Number)
    .refine((n) => n > 0, `must be above 0 (${what})`);

export const platformEnvSchema = z.object({
  PAAS_BASE_DOMAIN: optionalString.pipe(
    z
      .string()
      .regex(
        /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
        "must be a lowercase domain such as example.com or localhost",
      )
      .max(200, "must be at most 200 characters so hostnames fit in 253")
      .default("localhost"),
  ),
  PAAS_URL_SCHEME: optionalString.pipe(
    z.enum(["http", "https"], { error: "must be http or https" }).optional(),
  ),
  PAAS_URL_PORT: optionalString.pipe(
    positiveInt("a TCP port").pipe(z.number().max(65535, "must be a TCP port (1-65535)")).optional(),
  ),
  PAAS_MAX_CPU: optionalString.pipe(
    z
      .string()
      .regex(/^(?:\d{1,6}m|\d{1,3}(?:\.\d{1,3})?)$/, 'must be a CPU amount such as "2" or "500m"')
      .optional(),
  ),
  PAAS_MAX_MEMORY: optionalString.pipe(
    z
      .string()
      .regex(/^\d{1,7}(?:Ki|Mi|Gi|Ti|k|M|G|T)?$/, 'must be a memory amount such as "2Gi"')
      .optional(),
  ),
  PAAS_MAX_REPLICAS: optionalString.pipe(positiveInt("replicas").optional()),
  PAAS_SERVICE_IMAGES: optionalString.pipe(serviceImages().optional()),
  /** Whether apps may open outbound internet connections (network.egress: internet). Default true. */
  PAAS_EGRESS_INTERNET: optionalString.pipe(
    z.enum(["true", "false"], { error: "must be true or false" }).default("true"),
  ),
});

/**
 * PAAS_SERVICE_IMAGES: `postgres=registry.example.com/postgres:{version},redis=…`. A type
 * not listed runs its official image (`postgres:<version>`); `{version}` is replaced by the
 * version `.paas.yml` asks for (an image without it is used for every version).
 */
function serviceImages() {
  const ref =
    /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w{}][\w.{}-]{0,127})?$/;
  const types = SERVICE_TYPES.join(", ");
  return z.string().transform((s, ctx): ServiceImages => {
    const out: ServiceImages = {};
    for (const entry of s
      .split(",")
      .map((e) => e.trim())
      .filter(Boolean)) {
      const [type, image] = entry.split("=", 2).map((x) => x.trim()) as [string, string | undefined];
      if (!(SERVICE_TYPES as readonly string[]).includes(type) || !image || !ref.test(image)) {
        ctx.addIssue({
          code: "custom",
          message: `must be type=image pairs separated by commas, such as postgres=registry.example.com/postgres:{version} (types: ${types}); "${entry.slice(0, 100)}" is not`,
        });
        return z.NEVER;
      }
      out[type as keyof ServiceImages] = image;
    }
    return out;
  });
}

/** `localhost` and `*.localhost` resolve to this machine: served over plain HTTP. */
export function isLocalDomain(domain: string): boolean {
  return domain === "localhost" || domain.endsWith(".localhost");
}

/**
 * The platform settings, or the problems found (`VARIABLE message`), so a
 * caller reading more variables can report all problems at once.
 */
export function readPlatformSettings(env: Env): { settings: PlatformSettings } | { problems: string[] } {
  const parsed = platformEnvSchema.safeParse(env);
  const clusters = readClusters(env);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${String(i.path[0] ?? "")} ${i.message}`);
  if (clusters && "problems" in clusters) problems.push(...clusters.problems);
  if (clusters && (env.PAAS_RUNTIME?.trim() || "docker") !== "kubernetes")
    problems.push("PAAS_CLUSTERS needs PAAS_RUNTIME=kubernetes: registered clusters are Kubernetes clusters");
  if (!parsed.success || problems.length > 0) return { problems };
  const e = parsed.data;
  return {
    settings: {
      baseDomain: e.PAAS_BASE_DOMAIN,
      // Local development serves plain HTTP (Caddy on a local port); real domains use HTTPS.
      urlScheme: e.PAAS_URL_SCHEME ?? (isLocalDomain(e.PAAS_BASE_DOMAIN) ? "http" : "https"),
      urlPort: e.PAAS_URL_PORT,
      limits: {
        maxCpuMillis: e.PAAS_MAX_CPU !== undefined ? cpuMillis(e.PAAS_MAX_CPU) : undefined,
        maxMemoryBytes: e.PAAS_MAX_MEMORY !== undefined ? memoryBytes(e.PAAS_MAX_MEMORY) : undefined,
        maxReplicas: e.PAAS_MAX_REPLICAS,
      },
      serviceImages: e.PAAS_SERVICE_IMAGES,
      egressInternet: e.PAAS_EGRESS_INTERNET === "true",
      clusters: clusters && "registry" in clusters ? clusters.registry : undefined,
    },
  };
}

/** The platform settings; throws SettingsError listing every problem. */
export function platformSettingsFromEnv(env: Env): PlatformSettings {
  const read = readPlatformSettings(env);
  if ("problems" in read) throw new SettingsError(read.problems);
  return read.settings;
}

/**
 * The embedded default (the Docker runtime with its own Caddy) on this
 * machine: URLs on Caddy's HTTP port for local domains, probes through Caddy,
 * the App's own URL on localhost. Variables already set win. Used by
 * `paas start`, `paas deploy` and `paas plan --runtime docker` alike.
 */
export function embeddedDefaults(env: Env): Env {
  if ((env.PAAS_RUNTIME || "docker") !== "docker") return env;
  const httpPort = env.PAAS_HTTP_PORT || "80";
  const local = !env.PAAS_BASE_DOMAIN || isLocalDomain(env.PAAS_BASE_DOMAIN);
  return {
    ...env,
    PAAS_URL_PORT: env.PAAS_URL_PORT || (local && httpPort !== "80" ? httpPort : undefined),
    PAAS_PROBE_ADDRESS: env.PAAS_PROBE_ADDRESS || `http://127.0.0.1:${httpPort}`,
    PAAS_PUBLIC_URL: env.PAAS_PUBLIC_URL || `http://localhost:${env.PORT || "3000"}`,
  };
}
