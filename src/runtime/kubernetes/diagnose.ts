// Diagnosis of an environment from its pods, events and the failing
// container's last log lines, and the secret values that mask them. Its own
// module because diagnose(), logs() and a failed rollout all read it.
import type { KubernetesObject } from "@kubernetes/client-node";
import { messageOf } from "../../errors.ts";
import type { Target } from "../../names.ts";
import type { Diagnosis, SecretSource } from "../types.ts";
import { KubernetesApiError, type KubeClient } from "./client.ts";
import { parseDeliveredNames } from "../secret-values.ts";
import { readKept } from "./kept-secrets.ts";
import { A, WORKLOAD } from "./objects.ts";
import {
  emptyDiagnosis,
  findFailingContainer,
  formatEvents,
  rolloutStatus,
  type DeploymentLike,
  type EventLike,
  type PodFinding,
  type PodLike,
} from "./rollout.ts";

const LOG_LINES = 50;

export const LOGS_WITHHELD =
  "(log lines withheld: the values of this environment's secrets could not be read to mask them; redeploy to record them)";

/** Values of the secrets named on the namespace; undefined when they cannot be read. */
export async function currentSecretValues(
  client: KubeClient,
  secrets: SecretSource | undefined,
  target: Target,
  ns: string,
): Promise<string[] | undefined> {
  const nsObj = await client.read("v1", "Namespace", undefined, ns);
  const listed = nsObj?.metadata?.annotations?.[A.secrets];
  if (listed === undefined) return nsObj ? undefined : [];
  const names = listed.split(",").filter(Boolean);
  if (names.length === 0) return [];
  // Values a hand-off delivered are read back from the environment's own Secret (kept-secrets.ts),
  // the rest from the operator's source; when any cannot be read, the logs are withheld.
  const delivered = parseDeliveredNames(nsObj?.metadata?.annotations?.[A.deliveredSecrets]).filter((n) =>
    names.includes(n),
  );
  const rest = names.filter((n) => !delivered.includes(n));
  if (rest.length > 0 && !secrets) return undefined;
  try {
    const kept = delivered.length > 0 ? await readKept(client, ns, delivered) : {};
    if (Object.keys(kept).length < delivered.length) return undefined;
    const operator = rest.length > 0 ? await secrets!.get(target, rest) : {};
    return [...Object.values(kept), ...Object.values(operator)];
  } catch {
    return undefined;
  }
}

/** What the pods a selector picks show: the failing container, its last log lines, the events. */
export async function diagnoseNamespace(
  client: KubeClient,
  ns: string,
  podSelector: string,
): Promise<Diagnosis> {
  const nsObj = await client.read("v1", "Namespace", undefined, ns);
  if (!nsObj) return emptyDiagnosis(`environment does not exist (namespace ${ns} not found)`);
  const [pods, events, deployment] = await Promise.all([
    client.list<KubernetesObject & PodLike>("v1", "Pod", ns, podSelector),
    client.list<KubernetesObject & EventLike>("v1", "Event", ns, undefined),
    client.read<KubernetesObject & DeploymentLike>("apps/v1", "Deployment", ns, WORKLOAD),
  ]);
  const podNames = new Set(pods.map((p) => p.metadata?.name));
  // Events of these pods first; the rest of the namespace only when the pods have none.
  const relevant = events.filter((e) => podNames.has(e.involvedObject?.name));
  const eventLines = formatEvents(relevant.length > 0 ? relevant : events);
  const finding = findFailingContainer(pods, events);
  const status = deployment ? rolloutStatus(deployment) : undefined;
  if (!finding) {
    const summary =
      status?.state === "failed"
        ? status.reason
        : status?.state === "done"
          ? `healthy: ${status.ready} replica(s) ready`
          : pods.length === 0
            ? "no pods were created; see the events"
            : (status?.message ?? "no failing container found");
    return { summary, events: eventLines, state: undefined, exitCode: undefined, logs: [] };
  }
  return {
    summary: finding.summary,
    events: eventLines,
    state: finding.state,
    exitCode: finding.exitCode,
    logs: await failingContainerLogs(client, ns, finding, finding.previousLogs),
  };
}

/**
 * The last lines a failing container wrote (of its previous run with `previous`); none while it
 * has no logs, as when its image cannot be pulled: the events say why.
 */
export async function failingContainerLogs(
  client: KubeClient,
  ns: string,
  finding: Pick<PodFinding, "pod" | "container">,
  previous: boolean,
): Promise<string[]> {
  try {
    const text = await client.podLog(ns, finding.pod, finding.container, {
      previous,
      tailLines: LOG_LINES,
    });
    return text
      .split("\n")
      .filter((l, i, all) => l !== "" || i < all.length - 1)
      .slice(-LOG_LINES);
  } catch (e) {
    if (e instanceof KubernetesApiError && (e.status === 400 || e.status === 404)) return [];
    // The diagnosis is what the user reads about a failed rollout: logs the API server cannot give
    // now (the kubelet unreachable, the pod just deleted, an answer the client cannot read) are
    // one line of it, never an exception instead of it.
    return [`(the container's logs could not be read: ${messageOf(e).slice(0, 300)})`];
  }
}
