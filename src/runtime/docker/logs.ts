// Recent log lines of an environment's containers (dockerode's container
// logs, with the engine's timestamps), masked with the environment's secrets.
import type Docker from "dockerode";
import { redactText } from "../../redact.ts";
import { timedLine, type LogOptions, type LogStream } from "../types.ts";

/** Docker's multiplexed stream (8-byte frame headers) or a TTY's raw text, as text. */
export type Demux = (buf: Buffer) => string;

export async function containerLogs(
  docker: Docker,
  containers: readonly { id: string; name: string }[],
  o: LogOptions & { secrets: readonly string[]; demux: Demux },
): Promise<LogStream[]> {
  const out: LogStream[] = [];
  for (const c of containers) {
    const buf = (await docker.getContainer(c.id).logs({
      stdout: true,
      stderr: true,
      timestamps: true,
      tail: o.tail,
      follow: false,
      // Whole seconds: lines of that second again are dropped below by their time.
      ...(o.since ? { since: Math.floor(o.since.getTime() / 1000) } : {}),
    })) as unknown as Buffer;
    const lines = o
      .demux(Buffer.from(buf))
      .split("\n")
      .filter((l) => l !== "")
      .map(timedLine)
      .filter((l) => !o.since || l.time === undefined || Date.parse(l.time) > o.since.getTime())
      .map((l) => ({ ...l, text: redactText(l.text, o.secrets) }));
    out.push({ source: c.name.replace(/^\//, ""), lines });
  }
  return out;
}
