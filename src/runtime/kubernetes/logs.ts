// Recent log lines of an environment's pods (the kubelet's pod logs, with its
// timestamps), masked with the environment's secrets; withheld when those
// cannot be read.
import type { KubernetesObject } from "@kubernetes/client-node";
import { redactText } from "../../redact.ts";
import { LOGS_WITHHELD_LINE, timedLine, type LogOptions, type LogStream } from "../types.ts";
import { KubernetesApiError, type KubeClient } from "./client.ts";
import { COMPONENT_LABEL, WORKLOAD } from "./objects.ts";

export async function podLogs(
  client: KubeClient,
  ns: string,
  o: LogOptions & { secrets: readonly string[] | undefined },
): Promise<LogStream[]> {
  const pods = await client.list<KubernetesObject & { status?: { phase?: string } }>(
    "v1",
    "Pod",
    ns,
    `${COMPONENT_LABEL}=${WORKLOAD}`,
  );
  const out: LogStream[] = [];
  for (const pod of pods) {
    const name = pod.metadata?.name ?? "";
    if (o.secrets === undefined) {
      out.push({ source: name, lines: [{ time: undefined, text: LOGS_WITHHELD_LINE }] });
      continue;
    }
    let text = "";
    try {
      text = await client.podLog(ns, name, WORKLOAD, {
        previous: false,
        tailLines: o.tail,
        timestamps: true,
        // Whole seconds back (at least 1): lines of that second again are dropped below by their time.
        sinceSeconds: o.since ? Math.max(1, Math.ceil((Date.now() - o.since.getTime()) / 1000)) : undefined,
      });
    } catch (e) {
      // A pod still pulling its image or starting has no logs yet.
      if (!(e instanceof KubernetesApiError && (e.status === 400 || e.status === 404))) throw e;
    }
    const secrets = o.secrets;
    const lines = text
      .split("\n")
      .filter((l) => l !== "")
      .map(timedLine)
      .filter((l) => !o.since || l.time === undefined || Date.parse(l.time) > o.since.getTime())
      .map((l) => ({ ...l, text: redactText(l.text, secrets) }));
    out.push({ source: name, lines });
  }
  return out;
}
