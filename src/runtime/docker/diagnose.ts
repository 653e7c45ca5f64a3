// What a failed or asked-about container says: its state, exit code, last log
// lines and engine events, masked with the values it was given. Its own module
// because a rollout's failure and `paas diagnose` read a container the same way.
import type Docker from "dockerode";
import { redactDiagnosis } from "../../redact.ts";
import type { Diagnosis } from "../types.ts";

/** The diagnosis of one container; `reason` is the summary when it neither exited nor was killed. */
export async function diagnoseContainer(
  docker: Docker,
  id: string,
  redact: string[],
  reason: string | undefined,
): Promise<Diagnosis> {
  const c = docker.getContainer(id);
  const info = await c.inspect().catch(() => undefined);
  const s = info?.State;
  const exited =
    s && (s.Status === "exited" || s.Status === "dead" || s.Restarting || (info?.RestartCount ?? 0) > 0);
  const state = !s
    ? undefined
    : s.OOMKilled
      ? "OOMKilled"
      : s.Restarting
        ? "Restarting"
        : s.Status[0]!.toUpperCase() + s.Status.slice(1);
  const exitCode = exited ? s.ExitCode : undefined;
  const logs = await tailLogs(c);
  const events = await containerEvents(docker, id, info?.Created);
  let summary: string;
  if (s?.OOMKilled) summary = `container was killed for using more than its memory limit (OOMKilled)`;
  else if (exited)
    summary = `container exited with code ${s.ExitCode}${info!.RestartCount > 0 ? ` (restarted ${info!.RestartCount} times)` : ""}`;
  else summary = reason ?? `container is ${s?.Status ?? "missing"}`;
  return redactDiagnosis({ summary, events, state, exitCode, logs }, redact);
}

async function tailLogs(c: Docker.Container): Promise<string[]> {
  try {
    const buf = (await c.logs({
      stdout: true,
      stderr: true,
      tail: 50,
      follow: false,
    })) as unknown as Buffer;
    return demux(Buffer.from(buf))
      .split("\n")
      .filter((l, i, a) => l !== "" || i < a.length - 1)
      .slice(-50);
  } catch {
    return [];
  }
}

async function containerEvents(docker: Docker, id: string, created: string | undefined): Promise<string[]> {
  try {
    const since = created ? Math.floor(Date.parse(created) / 1000) - 1 : Math.floor(Date.now() / 1000) - 600;
    const stream = (await docker.getEvents({
      since,
      until: Math.floor(Date.now() / 1000) + 1,
      filters: { container: [id] },
    })) as NodeJS.ReadableStream;
    let text = "";
    for await (const chunk of stream) text += String(chunk);
    return text
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const e = JSON.parse(line) as {
          time?: number;
          Action?: string;
          Actor?: { Attributes?: Record<string, string> };
        };
        const code = e.Actor?.Attributes?.exitCode;
        const at = e.time ? new Date(e.time * 1000).toISOString() : "";
        return `${at} container ${e.Action ?? "?"}${code !== undefined ? ` (exit code ${code})` : ""}`.trim();
      })
      .filter((l) => !/ container exec_/.test(l))
      .slice(-50);
  } catch {
    return [];
  }
}

/** Values of the named variables in a container's environment (what diagnose must mask). */
export async function containerSecretValues(
  docker: Docker,
  id: string,
  names: readonly string[],
): Promise<string[]> {
  if (names.length === 0) return [];
  const wanted = new Set(names);
  const env = (await docker.getContainer(id).inspect()).Config.Env ?? [];
  return env.flatMap((kv) => {
    const at = kv.indexOf("=");
    return at > 0 && wanted.has(kv.slice(0, at)) ? [kv.slice(at + 1)] : [];
  });
}

/** Docker's multiplexed log stream (non-TTY): 8-byte frame headers. */
export function demux(buf: Buffer): string {
  let out = "";
  let i = 0;
  while (i + 8 <= buf.length && buf[i]! <= 2 && buf[i + 1] === 0) {
    const size = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + size).toString("utf8");
    i += 8 + size;
  }
  return i === 0 ? buf.toString("utf8") : out;
}
