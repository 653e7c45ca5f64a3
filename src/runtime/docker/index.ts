// Builds the Docker runtime from operator settings (environment variables for
// the App and the CLI). Docker is the embedded default runtime.
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { z } from "zod";
import { PaasError } from "../../errors.ts";
import { CaddyClient } from "./caddy.ts";
import { DockerCronScheduler } from "./cron.ts";
import { EGRESS_GUARDS, guardProblem, type EgressGuard } from "./egress.ts";
import { checkDockerPrereqs } from "./prereqs.ts";
import { DockerRuntime, type RegistryAuthProvider } from "./runtime.ts";
import { FileSecretSource } from "./secrets.ts";

export { CaddyClient } from "./caddy.ts";
export { DockerRuntime } from "./runtime.ts";
export { DockerCronScheduler } from "./cron.ts";
export { FileSecretSource } from "./secrets.ts";
export { checkDockerPrereqs, PrereqError } from "./prereqs.ts";

const port = z.coerce.number().int().min(1).max(65535);
const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");

export const dockerEnvSchema = z.object({
  /** unix:///var/run/docker.sock, tcp://host:2375, https://host:2376. Default: DOCKER_HOST, else the local socket. */
  PAAS_DOCKER_HOST: z
    .string()
    .regex(
      /^(?:unix|tcp|https?):\/\/\S+$/,
      "PAAS_DOCKER_HOST must look like unix:///var/run/docker.sock or tcp://host:2375",
    )
    .optional(),
  PAAS_CADDY_ADMIN: z
    .string()
    .url("PAAS_CADDY_ADMIN must be a URL such as http://127.0.0.1:2019")
    .default("http://127.0.0.1:2019"),
  /** Port Caddy serves plain HTTP on (previews on *.localhost, or behind Cloudflare's proxy). */
  PAAS_HTTP_PORT: port.default(80),
  /** Address Caddy binds for HTTP/HTTPS; default all interfaces. */
  PAAS_LISTEN_HOST: z.string().default(""),
  /** Automatic HTTPS (Let's Encrypt/ZeroSSL via Caddy) for real domains. */
  PAAS_HTTPS: bool.default(false),
  PAAS_HTTPS_PORT: port.default(443),
  PAAS_SECRETS_DIR: z.string().min(1).optional(),
  /** Which paas owns the containers when several share one engine. Default "paas". */
  PAAS_DOCKER_INSTANCE: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, "PAAS_DOCKER_INSTANCE must be lowercase letters, digits, . and -")
    .optional(),
  /** Pull credentials for one registry (e.g. ghcr.io with a token that can read packages). */
  /** File Caddy writes its access log to; the App reads request activity from it (sleeping previews). */
  PAAS_CADDY_ACCESS_LOG: z
    .string()
    .regex(/^\/\S*[^/]$/, "PAAS_CADDY_ACCESS_LOG must be an absolute file path")
    .optional(),
  /**
   * Who keeps the host firewall rule of network.egress none (egress.ts): "paas" checks and adds it
   * (needs root and iptables), "operator" has added it and keeps it (a paas that is not root);
   * "off" does not enforce egress none (Docker Desktop: the host cannot reach an internal network).
   */
  PAAS_DOCKER_EGRESS_GUARD: z.enum(EGRESS_GUARDS).default("paas"),
  PAAS_REGISTRY_HOST: z.string().optional(),
  PAAS_REGISTRY_USERNAME: z.string().optional(),
  PAAS_REGISTRY_PASSWORD: z.string().optional(),
});

export interface DockerSettings {
  dockerHost: string | undefined;
  caddyAdmin: string;
  httpListen: string;
  httpsListen: string | undefined;
  secretsDir: string | undefined;
  /** PAAS_DOCKER_INSTANCE; undefined means the default ("paas"). */
  instance?: string | undefined;
  registry: { host: string; username: string; password: string } | undefined;
  /** PAAS_CADDY_ACCESS_LOG; default a file in the temporary folder named after the instance. */
  accessLog?: string | undefined;
  /** PAAS_DOCKER_EGRESS_GUARD; undefined means "paas". */
  egressGuard?: EgressGuard | undefined;
}

export class DockerSettingsError extends PaasError {
  constructor(message: string) {
    super("docker_settings", message);
  }
}

export function dockerSettingsFromEnv(env: Record<string, string | undefined>): DockerSettings {
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = dockerEnvSchema.safeParse(defined);
  if (!parsed.success) {
    throw new DockerSettingsError(
      parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join("; "),
    );
  }
  const e = parsed.data;
  const host = e.PAAS_LISTEN_HOST.includes(":") ? `[${e.PAAS_LISTEN_HOST}]` : e.PAAS_LISTEN_HOST;
  const reg = [e.PAAS_REGISTRY_HOST, e.PAAS_REGISTRY_USERNAME, e.PAAS_REGISTRY_PASSWORD];
  if (reg.some(Boolean) && !reg.every(Boolean)) {
    throw new DockerSettingsError(
      "set all of PAAS_REGISTRY_HOST, PAAS_REGISTRY_USERNAME and PAAS_REGISTRY_PASSWORD, or none",
    );
  }
  return {
    dockerHost: e.PAAS_DOCKER_HOST,
    caddyAdmin: e.PAAS_CADDY_ADMIN,
    httpListen: `${host}:${e.PAAS_HTTP_PORT}`,
    httpsListen: e.PAAS_HTTPS ? `${host}:${e.PAAS_HTTPS_PORT}` : undefined,
    secretsDir: e.PAAS_SECRETS_DIR,
    instance: e.PAAS_DOCKER_INSTANCE,
    accessLog:
      e.PAAS_CADDY_ACCESS_LOG ?? join(tmpdir(), `paas-caddy-access-${e.PAAS_DOCKER_INSTANCE ?? "paas"}.log`),
    egressGuard: e.PAAS_DOCKER_EGRESS_GUARD,
    registry: e.PAAS_REGISTRY_HOST
      ? {
          host: e.PAAS_REGISTRY_HOST,
          username: e.PAAS_REGISTRY_USERNAME!,
          password: e.PAAS_REGISTRY_PASSWORD!,
        }
      : undefined,
  };
}

/** dockerode options for PAAS_DOCKER_HOST; undefined lets dockerode read DOCKER_HOST or use the local socket. */
export function dockerOptions(dockerHost: string | undefined): Docker.DockerOptions | undefined {
  if (!dockerHost) return undefined;
  const u = new URL(dockerHost);
  if (u.protocol === "unix:") return { socketPath: u.pathname };
  const https = u.protocol === "https:";
  return {
    protocol: https ? "https" : "http",
    host: u.hostname,
    port: Number(u.port || (https ? 2376 : 2375)),
  };
}

export interface DockerRuntimeParts {
  runtime: DockerRuntime;
  docker: Docker;
  caddy: CaddyClient;
  /** Runs the environments' scheduled jobs (start it where the App serves). */
  cron: DockerCronScheduler;
  /** Throws PrereqError (with the fixing commands) when the engine or Caddy is unreachable. */
  check(): Promise<void>;
  /** What deploys of apps with network.egress none would fail on (egress.ts guardProblem); undefined when nothing. */
  egressProblem(): Promise<string | undefined>;
}

export function createDockerRuntime(
  settings: DockerSettings,
  extra: { registryAuth?: RegistryAuthProvider } = {},
): DockerRuntimeParts {
  const docker = new Docker(dockerOptions(settings.dockerHost));
  const caddy = new CaddyClient({
    adminUrl: settings.caddyAdmin,
    httpListen: settings.httpListen,
    httpsListen: settings.httpsListen,
  });
  const reg = settings.registry;
  const registryAuth: RegistryAuthProvider | undefined =
    extra.registryAuth ??
    (reg
      ? async (registry) =>
          registry === reg.host ? { username: reg.username, password: reg.password } : undefined
      : undefined);
  const runtime = new DockerRuntime({
    docker,
    caddy,
    secrets: settings.secretsDir ? new FileSecretSource({ dir: settings.secretsDir }) : undefined,
    registryAuth,
    instance: settings.instance,
    accessLog: settings.accessLog,
    egressGuard: settings.egressGuard,
  });
  return {
    runtime,
    docker,
    caddy,
    cron: new DockerCronScheduler({ docker, instance: settings.instance }),
    check: () =>
      checkDockerPrereqs({
        docker,
        caddy,
        dockerHost: settings.dockerHost ?? process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock",
      }),
    egressProblem: () => guardProblem(settings.egressGuard ?? "paas"),
  };
}
