// What every part of the Docker runtime shares: the engine, Caddy, which paas
// instance it is and the operator's timings. Its own module so the parts
// (rollout, routes, sleep) take one settled value instead of many parameters.
import type Docker from "dockerode";
import type { SecretSource } from "../types.ts";
import type { CaddyClient } from "./caddy.ts";
import type { EgressGuard } from "./egress.ts";
import type { RegistryAuthProvider } from "./image-pull.ts";
import { routeId, scoped } from "./plan.ts";
import type { DockerServices } from "./services.ts";

export interface DockerContext {
  docker: Docker;
  caddy: CaddyClient;
  services: DockerServices;
  /** Which paas owns the containers (PAAS_DOCKER_INSTANCE). */
  instance: string;
  secrets: SecretSource | undefined;
  auth: RegistryAuthProvider | undefined;
  drainMs: number;
  stopTimeout: number;
  restart: "unless-stopped" | "on-failure";
  routeTimeoutMs: number;
  releaseTimeoutMs: number;
  /** PAAS_DOCKER_EGRESS_GUARD (egress.ts): who keeps the host firewall rule of egress none, or "off". */
  egressGuard: EgressGuard;
}

/** The environment's Caddy route id; a non-default instance's carries its name, so instances never collide. */
export function envRouteId(ctx: DockerContext, ns: string): string {
  return scoped(ctx.instance, routeId(ns));
}

/** The restart policy a container gets once it is healthy. */
export function restartPolicy(ctx: DockerContext): { Name: string; MaximumRetryCount?: number } {
  return ctx.restart === "on-failure"
    ? { Name: "on-failure", MaximumRetryCount: 5 }
    : { Name: "unless-stopped" };
}
