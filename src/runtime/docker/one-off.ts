// One-off containers on the Docker runtime: the release step (before traffic
// switches) and scheduled runs (cron.ts). Run to completion, read the exit
// code and the output's tail, and report a failure in the runtime's usual
// Diagnosis shape, so it reaches the check run like a failed rollout does.
import type Docker from "dockerode";
import { RELEASE_TIMEOUT_SECONDS, type Diagnosis } from "../../core/spec.ts";
import { demux } from "./diagnose.ts";

/** Last output lines kept for a diagnosis (as for a failing web container). */
const TAIL = 50;

export interface OneOffResult {
  exitCode: number;
  oomKilled: boolean;
  timedOut: boolean;
  logs: string[];
}

/** Starts a created container, waits for it to exit (or kills it at the deadline), and reads its output. */
export async function runToCompletion(
  c: Docker.Container,
  o: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<OneOffResult> {
  await c.start();
  const exited = c.wait() as Promise<{ StatusCode: number }>;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<"timeout" | "aborted">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), o.timeoutMs);
    onAbort = () => resolve("aborted");
    if (o.signal?.aborted) onAbort();
    o.signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const first = await Promise.race([exited, stop]);
    if (first === "timeout" || first === "aborted") {
      await c.kill().catch(() => undefined);
      await exited.catch(() => undefined);
      if (first === "aborted") o.signal!.throwIfAborted();
    }
    const info = await c.inspect();
    return {
      exitCode: info.State.ExitCode,
      oomKilled: info.State.OOMKilled,
      timedOut: first === "timeout",
      logs: await tail(c),
    };
  } finally {
    clearTimeout(timer);
    if (onAbort) o.signal?.removeEventListener("abort", onAbort);
  }
}

export async function tail(c: Docker.Container): Promise<string[]> {
  try {
    const buf = (await c.logs({
      stdout: true,
      stderr: true,
      tail: TAIL,
      follow: false,
    })) as unknown as Buffer;
    return demux(Buffer.from(buf))
      .split("\n")
      .filter((l, i, a) => l !== "" || i < a.length - 1)
      .slice(-TAIL);
  } catch {
    return [];
  }
}

/** The failure of the release step as a diagnosis; undefined when it succeeded. */
export function releaseFailure(r: OneOffResult, timeoutMs: number): Diagnosis | undefined {
  if (!r.timedOut && !r.oomKilled && r.exitCode === 0) return undefined;
  const why = r.timedOut
    ? `did not finish within ${Math.round(timeoutMs / 60_000)} minutes and was stopped`
    : r.oomKilled
      ? "was killed for using more than its memory limit (OOMKilled)"
      : `exited with code ${r.exitCode}`;
  return {
    summary: `the release command (run.release) ${why}; the previous version keeps serving`,
    events: [],
    state: r.oomKilled ? "OOMKilled" : "ReleaseFailed",
    exitCode: r.timedOut ? undefined : r.exitCode,
    logs: r.logs,
  };
}

/** Default ceiling of a release step's run (both runtimes use the same). */
export const RELEASE_TIMEOUT_MS = RELEASE_TIMEOUT_SECONDS * 1000;

/** Runs the release step's container; always removes it. A diagnosis when it failed. */
export async function runRelease(
  docker: Docker,
  options: Docker.ContainerCreateOptions,
  o: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<Diagnosis | undefined> {
  const c = await docker.createContainer(options);
  try {
    return releaseFailure(await runToCompletion(c, o), o.timeoutMs);
  } finally {
    await c.remove({ force: true }).catch(() => undefined);
  }
}

/** A diagnosis with only its summary (nothing ran that has logs or events). */
export function emptyDiagnosis(summary: string): Diagnosis {
  return { summary, events: [], state: undefined, exitCode: undefined, logs: [] };
}
