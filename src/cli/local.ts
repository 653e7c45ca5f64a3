// What `paas deploy`, `destroy` and `status` share: the local Docker runtime
// (the embedded default) with its own Caddy, and the platform settings the
// App would use on this machine (src/settings/platform.ts), so URLs match the
// port Caddy serves on and the same resource ceilings apply.
import type { PlatformSettings } from "../core/plan.ts";
import { PaasError } from "../errors.ts";
import { createFleetRuntime } from "../runtime/fleet/index.ts";
import { createKubernetesRuntime } from "../runtime/kubernetes/index.ts";
import type { Runtime } from "../runtime/types.ts";
import { readClusters } from "../settings/clusters.ts";
import type { CliIO } from "./io.ts";
import { embeddedDefaults, platformSettingsFromEnv } from "../settings/platform.ts";
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
  // Settings first: a wrong value is reported before Caddy is started.
  const settings = platformSettingsFromEnv(embeddedDefaults({ ...env, PAAS_RUNTIME: "docker" }));
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
  return { ...parts, settings };
}

/** The Kubernetes runtime of the App's settings: one cluster (KUBECONFIG), or every one PAAS_CLUSTERS registers. */
export function clusterRuntime(io: Pick<CliIO, "env">): Runtime {
  const clusters = readClusters(io.env);
  if (clusters && "problems" in clusters)
    throw new PaasError("clusters_invalid", clusters.problems.join("; "));
  return clusters ? createFleetRuntime(io.env, clusters).runtime : createKubernetesRuntime(io.env).runtime;
}
