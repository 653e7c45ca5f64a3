// The pure planning core: (app config, target, image, operator settings) →
// DeploySpec. No I/O; the App, the CLI and the tests all plan through here.
import type { AppConfig, Resources, Scale } from "../config/schema.ts";
import { PaasError } from "../errors.ts";
import { appName as makeAppName, envSlug, githubEnvironment, hostnameFor, type Target } from "../names.ts";
import { placeEnvironment, type ClusterRegistry } from "./placement.ts";
import { planServices, type ServiceImages } from "./services.ts";
import type { DeploySpec, ProcessSpec } from "./spec.ts";

export interface PlatformSettings {
  /** Base domain for generated hostnames, e.g. "example.com" or "localhost". */
  baseDomain: string;
  /** Scheme of public URLs. */
  urlScheme: "http" | "https";
  /** Port in public URLs when not the scheme's default (local Caddy on :8080). */
  urlPort?: number | undefined;
  /** Operator ceilings; a config above them is refused. */
  limits?: Limits | undefined;
  /** Images of add-on services (PAAS_SERVICE_IMAGES); default the official ones. */
  serviceImages?: ServiceImages | undefined;
  /** Whether apps may ask for outbound internet (network.egress: internet). Default true (PAAS_EGRESS_INTERNET). */
  egressInternet?: boolean | undefined;
  /** The clusters the operator registered (PAAS_CLUSTERS); undefined: one runtime, no placement. */
  clusters?: ClusterRegistry | undefined;
}

export interface Limits {
  /** Per replica, in millicores. */
  maxCpuMillis?: number | undefined;
  /** Per replica, in bytes. */
  maxMemoryBytes?: number | undefined;
  maxReplicas?: number | undefined;
}

export interface PlanInput {
  target: Target;
  repositoryId: number;
  config: AppConfig;
  /** `registry/name@sha256:…` */
  image: string;
  sha: string;
  /** Start command from detection, used when the config sets none. */
  detectedStart?: string | undefined;
}

export class PlanError extends PaasError {
  constructor(message: string) {
    super("plan_invalid", message);
  }
}

export function planDeploy(input: PlanInput, settings: PlatformSettings): DeploySpec {
  const { target, config } = input;
  const env = target.environment;
  const digestMatch = /@(sha256:[a-f0-9]{64})$/.exec(input.image);
  if (!digestMatch)
    throw new PlanError(`image "${input.image.slice(0, 200)}" is not pinned by digest (name@sha256:…)`);
  if (!/^[a-f0-9]{40}(?:[a-f0-9]{24})?$/.test(input.sha))
    throw new PlanError("sha must be a full 40-character commit sha");

  const override = overrideFor(config, target);
  const name = makeAppName(target.repo, target.app, config.name);
  const primary = hostnameFor(env, name, settings.baseDomain);
  // Previews never get production domains; named environments add their custom domains.
  const domains = env.kind === "named" ? (namedEnvironment(config, env.name)?.domains ?? []) : [];
  const hostnames = [primary, ...domains.filter((d) => d !== primary)];
  const url = publicUrl(primary, settings);

  const resources = mergeResources(config.resources, override.resources);
  const scale: Scale = override.scale ?? config.scale;
  enforceLimits(resources, scale, settings.limits);

  const command = override.run?.command ?? config.run.command ?? input.detectedStart;
  const processes = planProcesses(config, resources, settings.limits);
  if (config.network.egress === "internet" && settings.egressInternet === false) {
    throw new PlanError(
      "network.egress: internet is not allowed on this platform (the operator set PAAS_EGRESS_INTERNET=false); remove it or ask the operator",
    );
  }
  const userEnv = { ...config.env, ...override.env };
  const platformEnv: Record<string, string> = {
    PORT: String(config.run.port),
    PAAS_APP: name,
    PAAS_ENVIRONMENT: githubEnvironment(env),
    PAAS_COMMIT_SHA: input.sha,
    PAAS_URL: url,
  };
  const secrets = [
    ...new Set(
      env.kind === "preview" ? (config.previews.secrets ?? []) : (override.secrets ?? config.secrets),
    ),
  ];
  const services = planServices(config.services, {
    appName: name,
    taken: [...Object.keys(userEnv), ...Object.keys(platformEnv), ...secrets],
    images: settings.serviceImages,
  });
  return {
    target,
    repositoryId: input.repositoryId,
    appName: name,
    image: input.image,
    digest: digestMatch[1]!,
    sha: input.sha,
    hostnames,
    url,
    port: config.run.port,
    command,
    env: { ...userEnv, ...platformEnv },
    // Previews get only the secrets listed under previews: never production's.
    secrets,
    resources,
    scale,
    healthcheck: config.run.healthcheck,
    production: env.kind === "named" && env.name === "production",
    ...services,
    release: config.run.release,
    processes,
    cron: config.cron.map((j, i) => ({
      name: j.name ?? `job-${i + 1}`,
      schedule: j.schedule.trim(),
      command: j.command,
    })),
    egress: config.network.egress,
    ...(settings.clusters ? { placement: placeEnvironment(settings.clusters, target, config) } : {}),
  };
}

/** The keys of `o` whose value is set. */
function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Workers, sorted by name, each within the operator's ceilings; resources default to the web process's. */
function planProcesses(config: AppConfig, web: Resources, limits: Limits | undefined): ProcessSpec[] {
  return Object.entries(config.processes)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, p]) => {
      const resources: Resources = {
        requests: { ...web.requests, ...defined(p.resources?.requests) },
        limits: { ...web.limits, ...defined(p.resources?.limits) },
      };
      try {
        enforceLimits(resources, { replicas: p.scale.replicas }, limits);
      } catch (e) {
        throw new PlanError(`processes.${name}: ${(e as Error).message}`);
      }
      return { name, command: p.command, replicas: p.scale.replicas, resources };
    });
}

/**
 * The environment `.paas.yml` defines under this name: its own keys only, so a name such as
 * "constructor", "toString" or "__proto__" is not found on every config through its prototype.
 */
export function namedEnvironment(config: Pick<AppConfig, "environments">, name: string) {
  return Object.hasOwn(config.environments, name) ? config.environments[name] : undefined;
}

function overrideFor(config: AppConfig, target: Target) {
  const env = target.environment;
  if (env.kind === "preview") {
    if (!config.previews.enabled) {
      throw new PlanError("previews are disabled for this app (previews.enabled: false in .paas.yml)");
    }
    return config.previews;
  }
  const named = namedEnvironment(config, env.name);
  if (!named) {
    const known = Object.keys(config.environments);
    throw new PlanError(
      `environment "${env.name}" is not defined in .paas.yml; add it under environments (defined: ${known.join(", ") || "none"})`,
    );
  }
  return named;
}

export function publicUrl(host: string, s: PlatformSettings): string {
  const defaultPort = s.urlScheme === "https" ? 443 : 80;
  const port = s.urlPort && s.urlPort !== defaultPort ? `:${s.urlPort}` : "";
  return `${s.urlScheme}://${host}${port}/`;
}

function mergeResources(base: Resources, over: Resources | undefined): Resources {
  if (!over) return base;
  return {
    requests: { ...base.requests, ...over.requests },
    limits: { ...base.limits, ...over.limits },
  };
}

/** "250m" → 250, "1.5" → 1500. */
export function cpuMillis(q: string): number {
  return q.endsWith("m") ? Number(q.slice(0, -1)) : Math.round(Number(q) * 1000);
}

/** "512Mi" → bytes. */
export function memoryBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) return NaN;
  const mult: Record<string, number> = {
    "": 1,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Number(m[1]) * mult[m[2] ?? ""]!;
}

function enforceLimits(r: Resources, scale: Scale, limits: Limits | undefined): void {
  if (cpuMillis(r.requests.cpu) > cpuMillis(r.limits.cpu)) {
    throw new PlanError(
      `resources.requests.cpu (${r.requests.cpu}) is above resources.limits.cpu (${r.limits.cpu})`,
    );
  }
  if (memoryBytes(r.requests.memory) > memoryBytes(r.limits.memory)) {
    throw new PlanError(
      `resources.requests.memory (${r.requests.memory}) is above resources.limits.memory (${r.limits.memory})`,
    );
  }
  if (!limits) return;
  if (limits.maxCpuMillis !== undefined && cpuMillis(r.limits.cpu) > limits.maxCpuMillis) {
    throw new PlanError(
      `resources.limits.cpu ${r.limits.cpu} is above this platform's ceiling of ${limits.maxCpuMillis}m per replica; lower it`,
    );
  }
  if (limits.maxMemoryBytes !== undefined && memoryBytes(r.limits.memory) > limits.maxMemoryBytes) {
    throw new PlanError(
      `resources.limits.memory ${r.limits.memory} is above this platform's ceiling of ${Math.floor(limits.maxMemoryBytes / 1024 ** 2)}Mi per replica; lower it`,
    );
  }
  const most = scale.autoscale ? scale.autoscale.max : (scale.replicas ?? 1);
  if (limits.maxReplicas !== undefined && most > limits.maxReplicas) {
    throw new PlanError(
      `scale asks for ${most} replicas; this platform allows at most ${limits.maxReplicas}`,
    );
  }
}

/** Short human description of a target, for logs and errors. */
export function describeTarget(t: Target): string {
  return `${t.owner}/${t.repo}${t.app ? ` (${t.app})` : ""} ${envSlug(t.environment)}`;
}
