// network.egress on the Docker runtime. `none` puts every container of the
// environment (web, release, workers, scheduled runs, add-on services) on an
// internal bridge network: the engine forwards nothing between it and any
// other interface, so the only peers are the environment's own containers
// (found by name through the engine's DNS, which answers inside each
// container). `internet` is an ordinary bridge network with a route out.
//
// What the engine leaves open, and how it is closed here. An internal bridge
// still has the host's address on it (the engine needs it so the host can
// reach the containers), and packets to any of the host's own addresses are
// delivered locally (the INPUT chain), never forwarded, so the isolation
// rules do not see them. Engine 20.10 even gives the containers a default
// route through that address, so a connection to the host's public or LAN
// address reached whatever listens there; engines from 25 on drop that route
// but still let the bridge's own address reach every service listening on
// all addresses (moby/libnetwork#1151). One host firewall rule closes both:
// new connections coming in from an internal environment bridge are refused,
// while the host's own connections to the containers (Caddy, the health
// probes) and their replies pass. The bridges get names with one prefix
// (SEALED_BRIDGE_PREFIX) so a single rule covers every environment. IPv4
// only: the networks are created without IPv6, and the engine then disables
// IPv6 on the containers' interfaces (no link-local path to the host either).
//
// Caddy's route: the engine publishes no port of a container on an internal
// network, so Caddy and the health probes dial the container's address on
// the bridge (the host has a direct route to it through the bridge's address).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type Docker from "dockerode";
import { DockerRuntimeError, messageOf, statusOf } from "./engine-errors.ts";
import { SEALED_BRIDGE_PREFIX, type DockerNetworkPlan } from "./plan.ts";
import { SL } from "./services-plan.ts";

const run = promisify(execFile);

/**
 * PAAS_DOCKER_EGRESS_GUARD: who keeps the host firewall rule. "paas" checks and adds it at each
 * deploy (root, iptables); "operator" added it and keeps it (a paas that is not root); "off"
 * enforces no egress at all: for Docker Desktop, whose engine runs in a VM, so the host cannot
 * reach containers on an internal network (nor has that VM's firewall).
 */
export const EGRESS_GUARDS = ["paas", "operator", "off"] as const;
export type EgressGuard = (typeof EGRESS_GUARDS)[number];

/** The spec as this runtime applies it: with the guard off, egress none gets the ordinary network. */
export function enforcedSpec<S extends { egress?: "none" | "internet" | undefined }>(
  spec: S,
  guard: EgressGuard | undefined,
): S {
  return guard === "off" && spec.egress !== "internet" ? { ...spec, egress: "internet" } : spec;
}

/** The INPUT rule, after `iptables -C|-I INPUT`: new connections from an internal environment's bridge are refused. */
export const GUARD_RULE = [
  "-i",
  `${SEALED_BRIDGE_PREFIX}+`,
  "-m",
  "conntrack",
  "--ctstate",
  "NEW,INVALID",
  "-m",
  "comment",
  "--comment",
  "paas: network.egress none, no connections from apps to the host",
  // Refused at once (connect() fails with "no route to host"), not dropped: an app that tries
  // fails fast, as it does for any address off its network, instead of waiting for a timeout.
  "-j",
  "REJECT",
  "--reject-with",
  "icmp-admin-prohibited",
];

/** The command an operator runs once when paas cannot add the rule itself (not root). */
export function guardCommand(): string {
  return `iptables -I INPUT 1 ${GUARD_RULE.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(" ")}`;
}

export class EgressGuardError extends DockerRuntimeError {}

export interface GuardOptions {
  /** The iptables program (tests point it elsewhere to see the failure); default `iptables` on PATH. */
  iptables?: string | undefined;
}

/**
 * Ensures the host firewall rule that keeps apps with egress none off the host's own addresses.
 * Checked at every deploy (a check is one iptables call): a firewall reload that dropped the rule
 * gets it back before the next app starts.
 */
export function ensureHostGuard(o: GuardOptions = {}): Promise<void> {
  return addGuard(o.iptables ?? "iptables");
}

async function addGuard(iptables: string): Promise<void> {
  try {
    await run(iptables, ["-w", "-C", "INPUT", ...GUARD_RULE], { timeout: 30_000 });
    return;
  } catch (err) {
    // Exit status 1: the rule is not there yet. Anything else (no program, no permission) is the operator's to fix.
    if ((err as { code?: unknown }).code !== 1) throw guardError(err);
  }
  try {
    await run(iptables, ["-w", "-I", "INPUT", "1", ...GUARD_RULE], { timeout: 30_000 });
  } catch (err) {
    throw guardError(err);
  }
}

/**
 * At start, what the first deploy of an app with egress none would fail on: with the guard
 * "paas", the rule is added now, and a paas that cannot (not root, no iptables, Docker
 * Desktop) says what to do before anyone deploys. Undefined when nothing is wrong.
 */
export async function guardProblem(guard: EgressGuard, o: GuardOptions = {}): Promise<string | undefined> {
  if (guard !== "paas") return undefined;
  try {
    await ensureHostGuard(o);
    return undefined;
  } catch (err) {
    if (err instanceof EgressGuardError) return err.message;
    throw err;
  }
}

function guardError(err: unknown): EgressGuardError {
  const why = (err as { stderr?: unknown }).stderr;
  const detail = (typeof why === "string" && why.trim()) || messageOf(err);
  return new EgressGuardError(
    `network.egress none needs a host firewall rule that paas could not add (${detail.slice(0, 200)}): ` +
      `run paas as root with iptables installed (apt-get install iptables); or add the rule as root (${guardCommand()}), ` +
      `keep it across reboots (apt-get install iptables-persistent) and set PAAS_DOCKER_EGRESS_GUARD=operator; ` +
      `on Docker Desktop, set PAAS_DOCKER_EGRESS_GUARD=off (egress none is then not enforced); ` +
      `or set network.egress: internet for this app`,
    { cause: err },
  );
}

/** Creates the environment's network as planned when it does not exist yet. */
export async function ensureNetwork(docker: Docker, network: DockerNetworkPlan): Promise<void> {
  try {
    await docker.getNetwork(network.name).inspect();
    return;
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
  try {
    await docker.createNetwork({
      Name: network.name,
      Driver: "bridge",
      CheckDuplicate: true,
      Internal: network.internal,
      Labels: network.labels,
      ...(network.bridge ? { Options: { "com.docker.network.bridge.name": network.bridge } } : {}),
    });
  } catch (err) {
    // Created concurrently by another process: fine.
    if (statusOf(err) !== 409) throw err;
  }
}

/**
 * After a deploy drained the previous version: the environment's other network (the one of
 * the other egress) loses the add-on services, which the deploy connected to the new one too,
 * and is removed. A scheduled run still going there keeps it until the next deploy or destroy.
 */
export async function retireNetwork(docker: Docker, name: string): Promise<void> {
  const net = docker.getNetwork(name);
  let info: Docker.NetworkInspectInfo;
  try {
    info = (await net.inspect()) as Docker.NetworkInspectInfo;
  } catch (err) {
    if (statusOf(err) === 404) return;
    throw err;
  }
  for (const id of Object.keys(info.Containers ?? {})) {
    const c = await docker
      .getContainer(id)
      .inspect()
      .catch(() => undefined);
    if (c?.Config.Labels?.[SL.service]) await net.disconnect({ Container: id, Force: true });
  }
  await net.remove().catch((err: unknown) => {
    // Still in use by a run of the previous version (403/409), or gone already (404).
    if (![403, 404, 409].includes(statusOf(err) ?? 0)) throw err;
  });
}

/** Connects a container (an add-on service) to `network` under `alias` unless it is on it already. */
export async function ensureConnected(
  docker: Docker,
  info: Docker.ContainerInspectInfo,
  network: string,
  alias: string,
): Promise<void> {
  if (info.NetworkSettings.Networks?.[network]) return;
  await docker
    .getNetwork(network)
    .connect({ Container: info.Id, EndpointConfig: { Aliases: [alias] } })
    .catch((err: unknown) => {
      throw new DockerRuntimeError(
        `could not connect ${info.Name.replace(/^\//, "")} to network ${network}: ${messageOf(err)}`,
        { cause: err },
      );
    });
}
