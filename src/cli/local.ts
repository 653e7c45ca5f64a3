// What `paas deploy`, `destroy` and `status` share: the local Docker runtime
// (the embedded default) with its own Caddy, and the platform settings that
// make URLs match the port Caddy serves on.
import type { PlatformSettings } from "../core/plan.ts";
import { ensureCaddy } from "../runtime/docker/caddy-daemon.ts";
import { engineProblem, PrereqError } from "../runtime/docker/prereqs.ts";
import {
  createDockerRuntime,
  dockerSettingsFromEnv,
  type DockerRuntimeParts,
} from "../runtime/docker/index.ts";

export interface LocalPlatform extends DockerRuntimeParts {
  settings: PlatformSettings;
}

/**
 * `routing: false` (status) only reads container labels: it needs the engine,
 * not Caddy, so it neither starts Caddy nor requires it.
 */
export async function localPlatform(
  env: NodeJS.ProcessEnv,
  { routing = true }: { routing?: boolean } = {},
): Promise<LocalPlatform> {
  const docker = dockerSettingsFromEnv(env);
  if (routing) await ensureCaddy({ adminUrl: docker.caddyAdmin, stateDir: env.PAAS_STATE_DIR });
  const parts = createDockerRuntime(docker);
  if (routing) await parts.check();
  else {
    await parts.docker.ping().catch(() => {
      throw new PrereqError([
        engineProblem(docker.dockerHost ?? env.DOCKER_HOST ?? "unix:///var/run/docker.sock"),
      ]);
    });
  }
  const httpPort = Number(docker.httpListen.slice(docker.httpListen.lastIndexOf(":") + 1));
  const https = Boolean(docker.httpsListen) && env.PAAS_URL_SCHEME !== "http";
  return {
    ...parts,
    settings: {
      baseDomain: env.PAAS_BASE_DOMAIN || "localhost",
      urlScheme: https ? "https" : "http",
      urlPort: env.PAAS_URL_PORT ? Number(env.PAAS_URL_PORT) : https ? undefined : httpPort,
    },
  };
}
