// The set-up the Docker end-to-end suites share: a Caddy of their own on free ports,
// the Docker runtime for their own instance (PAAS_DOCKER_INSTANCE: every container,
// network and volume it makes is labelled with it, so suites on the shared engine never
// see each other's), the App harness on top, and the teardown that removes what the
// suite deployed and built even when a test failed half-way.
import type Docker from "dockerode";
import type { Clock } from "../../src/app/deployer.ts";
import { claimsFromRuntime, createDnsProvider } from "../../src/dns/index.ts";
import type { DnsProvider } from "../../src/dns/types.ts";
import { CaddyClient } from "../../src/runtime/docker/caddy.ts";
import {
  createDockerRuntime,
  DockerRuntime,
  type DockerRuntimeParts,
  type DockerSettings,
} from "../../src/runtime/docker/index.ts";
import type { DockerRuntimeOptions } from "../../src/runtime/docker/runtime.ts";
import { startHarness, type Harness } from "./app-harness.ts";
import { startCaddy, type TestCaddy } from "./caddy.ts";
import type { TestRegistry } from "./registry.ts";

export interface DockerAppOptions {
  /** PAAS_DOCKER_INSTANCE: the suite's own containers (other suites deploy on the same engine). */
  instance: string;
  secretsDir?: string;
  registry?: DockerSettings["registry"];
  accessLog?: string;
  /** The App's settings beyond the ones every Docker suite sets (URL port, probe address, local images). */
  env?: Record<string, string>;
  /** "none" (default): no DNS provider, hostnames claimed from the runtime; "recording": the harness's fake. */
  dns?: "none" | "recording" | ((runtime: DockerRuntimeParts["runtime"]) => DnsProvider);
  clock?: Clock;
}

export interface DockerApp {
  caddy: TestCaddy;
  parts: DockerRuntimeParts;
  h: Harness;
}

/** Caddy, the checked Docker runtime of `o.instance`, and the App harness deploying on them. */
export async function startDockerApp(o: DockerAppOptions): Promise<DockerApp> {
  const caddy = await startCaddy();
  try {
    const parts = createDockerRuntime({
      dockerHost: undefined,
      caddyAdmin: caddy.adminUrl,
      httpListen: caddy.httpListen,
      httpsListen: undefined,
      instance: o.instance,
      secretsDir: o.secretsDir,
      registry: o.registry,
      ...(o.accessLog ? { accessLog: o.accessLog } : {}),
    });
    await parts.check();
    const h = await startHarness(
      {
        PAAS_URL_PORT: String(caddy.httpPort),
        // The test images are local (paas-test/...): the App allows that prefix here.
        PAAS_IMAGE_PREFIXES: "paas-test/",
        PAAS_PROBE_ADDRESS: `http://127.0.0.1:${caddy.httpPort}`,
        ...o.env,
      },
      { runtime: parts.runtime, ...dnsOf(o, parts.runtime), ...(o.clock ? { clock: o.clock } : {}) },
    );
    return { caddy, parts, h };
  } catch (err) {
    // The suite's `after` never sees a Caddy that `before` did not get back.
    await caddy.stop();
    throw err;
  }
}

function dnsOf(o: DockerAppOptions, runtime: DockerRuntimeParts["runtime"]): { dns?: DnsProvider } {
  const dns = o.dns ?? "none";
  if (dns === "recording") return {};
  if (dns === "none")
    return { dns: createDnsProvider({ provider: "none" }, { claims: claimsFromRuntime(runtime) }) };
  return { dns: dns(runtime) };
}

/**
 * Stops the harness, destroys every environment of `appName` the runtime lists, removes
 * what is left labelled with the instance and the suite's images, then stops Caddy.
 * Each part is optional: a `before` that failed half-way leaves some undefined.
 */
export async function stopDockerApp(
  docker: Docker,
  app: Partial<DockerApp>,
  o: { instance: string; appName: string; images?: readonly (string | undefined)[] },
): Promise<void> {
  await app.h?.close();
  if (app.parts)
    for (const e of (await app.parts.runtime.list()).filter((e) => e.appName === o.appName))
      await app.parts.runtime.destroy(e.target).catch(() => undefined);
  await removeLabelled(docker, [`paas.managed-by=${o.instance}`]);
  await removeImages(docker, o.images ?? []);
  await app.caddy?.stop();
}

/** Caddy and a DockerRuntime on it, for the runtime's own suites (no App). */
export async function startCaddyRuntime(
  docker: Docker,
  options: Omit<DockerRuntimeOptions, "docker" | "caddy"> = {},
): Promise<{ caddy: TestCaddy; client: CaddyClient; runtime: DockerRuntime }> {
  const caddy = await startCaddy();
  const client = new CaddyClient({ adminUrl: caddy.adminUrl, httpListen: caddy.httpListen });
  return { caddy, client, runtime: new DockerRuntime({ docker, caddy: client, ...options }) };
}

/** Removes (forced) the containers, then the volumes and networks, carrying every label in `labels`. */
/** Whether an engine object (a volume, a network, a container) exists: its inspect answers. */
export function engineObjectExists(o: { inspect(): Promise<unknown> }): Promise<boolean> {
  return o.inspect().then(
    () => true,
    () => false,
  );
}

export async function removeLabelled(docker: Docker, labels: string[]): Promise<void> {
  const filters = { label: labels };
  for (const c of await docker.listContainers({ all: true, filters }))
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined);
  for (const v of (await docker.listVolumes({ filters })).Volumes ?? [])
    await docker
      .getVolume(v.Name)
      .remove()
      .catch(() => undefined);
  for (const n of await docker.listNetworks({ filters }))
    await docker
      .getNetwork(n.Id)
      .remove()
      .catch(() => undefined);
}

/** Removes (forced) each image by reference or id; a missing one is fine. */
export async function removeImages(docker: Docker, refs: readonly (string | undefined)[]): Promise<void> {
  for (const ref of refs)
    if (ref)
      await docker
        .getImage(ref)
        .remove({ force: true })
        .catch(() => undefined);
}

/** Tags the local image `id` as `<registry>/<name>:<tag>` and pushes it; throws the push's error. */
export async function pushToRegistry(
  docker: Docker,
  registry: TestRegistry,
  image: { id: string; name: string; tag: string },
): Promise<string> {
  const remote = `${registry.host}/${image.name}`;
  await docker.getImage(image.id).tag({ repo: remote, tag: image.tag });
  const push = await docker.getImage(`${remote}:${image.tag}`).push({
    authconfig: { username: registry.username, password: registry.password, serveraddress: registry.host },
  });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(push, (err: Error | null, res: { error?: string }[]) =>
      err || res.some((e) => e.error) ? reject(err ?? new Error(res.find((e) => e.error)!.error)) : resolve(),
    ),
  );
  return remote;
}
