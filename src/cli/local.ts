// What `paas deploy`, `destroy` and `status` share: the local Docker runtime
// (the embedded default) with its own Caddy, and the platform settings that
// make URLs match the port Caddy serves on.
import type { PlatformSettings } from "../core/plan.ts";
import { ensureCaddy } from "../runtime/docker/caddy-daemon.ts";
import {
  createDockerRuntime,
  dockerSettingsFromEnv,
  type DockerRuntimeParts,
} from "../runtime/docker/index.ts";

export interface LocalPlatform extends DockerRuntimeParts {
  settings: PlatformSettings;
}

export async function localPlatform(env: NodeJS.ProcessEnv): Promise<LocalPlatform> {
  const docker = dockerSettingsFromEnv(env);
  await ensureCaddy({ adminUrl: docker.caddyAdmin, stateDir: env.PAAS_STATE_DIR });
  const parts = createDockerRuntime(docker);
  await parts.check();
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
