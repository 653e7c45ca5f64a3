// How the Docker runtime reads the engine's failures: its own error type, the
// HTTP status dockerode attaches, and a plain message. Its own module because
// every part of the runtime (images, containers, probes) needs the same reading.
import { PaasError } from "../../errors.ts";

export class DockerRuntimeError extends PaasError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("docker_runtime", message, options);
  }
}

/** The engine's HTTP status on a dockerode error (304, 404, 409 mean "already so"). */
export function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === "number" ? s : undefined;
}

export { messageOf } from "../../errors.ts";
