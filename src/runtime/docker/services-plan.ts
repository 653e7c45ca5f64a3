// The Docker runtime's add-on services, pure: for each service of a spec, the
// container and the named volume that holds its data (and, in its labels, its
// credentials). `paas plan --runtime docker` prints this; services.ts creates it.
import type Docker from "dockerode";
import { serviceArgs, serviceContainerEnv, serviceDataPath, type ServiceSpec } from "../../core/services.ts";
import type { DeploySpec } from "../../core/spec.ts";
import { namespaceName } from "../../names.ts";
import { DEFAULT_INSTANCE, envNetwork, L, scoped } from "./plan.ts";

/** Labels of service containers and volumes (never the app's: they carry no deploy id). */
export const SL = {
  service: "paas.service",
  type: "paas.service-type",
  version: "paas.service-version",
  /** On the volume only: the password, created with the data and living as long as it. */
  password: "paas.service-password",
  /** On the container: what it was created from, so a change recreates it. */
  config: "paas.service-config",
} as const;

/** Kept small and fixed: a service is a dependency of the app, not a tenant of its own. */
const SERVICE_LIMITS = { nanoCpus: 1_000_000_000, memoryBytes: 512 * 1024 ** 2, pids: 4096 };
/** What the official images' entry points need as root to hand the data folder to their user and drop to it. */
const SERVICE_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"];

export interface DockerServicePlan {
  service: ServiceSpec;
  /** Container and volume name: `<namespace>.<service>` (scoped by instance). */
  name: string;
  volume: { name: string; labels: Record<string, string> };
  container: { name: string; labels: Record<string, string>; network: string; alias: string };
  mountPath: string;
}

export function serviceResourceName(instance: string, ns: string, service: string): string {
  // "." cannot appear in a namespace or a service name: no two environments' names meet.
  return scoped(instance, `${ns}.${service}`);
}

export function planDockerServices(spec: DeploySpec, instance = DEFAULT_INSTANCE): DockerServicePlan[] {
  const ns = namespaceName(spec.target);
  const base = {
    [L.managedBy]: instance,
    [L.namespace]: ns,
    [L.repositoryId]: String(spec.repositoryId),
  };
  return spec.services.map((s) => {
    const name = serviceResourceName(instance, ns, s.name);
    const labels = { ...base, [SL.service]: s.name, [SL.type]: s.type, [SL.version]: s.version };
    return {
      service: s,
      name,
      volume: { name, labels },
      container: {
        name,
        labels: { ...labels, [SL.config]: `${s.image} ${serviceDataPath(s)}` },
        // The app's network, internal or not as its egress says: a service has no more way out than the app.
        network: envNetwork(instance, ns, spec.egress),
        alias: s.name,
      },
      mountPath: serviceDataPath(s),
    };
  });
}

/** The engine's create options for a planned service with its password and resolved image id. */
export function serviceCreateOptions(
  p: DockerServicePlan,
  facts: { imageId: string; password: string },
): Docker.ContainerCreateOptions {
  const env = serviceContainerEnv(p.service, facts.password);
  const args = serviceArgs(p.service, facts.password);
  return {
    name: p.container.name,
    Image: facts.imageId,
    Labels: p.container.labels,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ...(args ? { Cmd: args } : {}),
    HostConfig: {
      NetworkMode: p.container.network,
      // No published port: only containers on the environment's network reach it.
      Mounts: [{ Type: "volume", Source: p.volume.name, Target: p.mountPath }],
      NanoCpus: SERVICE_LIMITS.nanoCpus,
      Memory: SERVICE_LIMITS.memoryBytes,
      PidsLimit: SERVICE_LIMITS.pids,
      // No restarts until ready: a crash at start keeps its exit code and logs for the diagnosis.
      RestartPolicy: { Name: "no" },
      CapDrop: ["ALL"],
      CapAdd: SERVICE_CAPS,
      SecurityOpt: ["no-new-privileges:true"],
      LogConfig: { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } },
    },
    NetworkingConfig: { EndpointsConfig: { [p.container.network]: { Aliases: [p.container.alias] } } },
  };
}
