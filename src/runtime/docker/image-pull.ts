// Finding a deploy's image on the engine: by its pinned reference, a local
// build by its id, or a pull with the registry's credentials. Its own module
// because it is the runtime's only contact with registries (and their secrets).
import type Docker from "dockerode";
import { redactError } from "../../redact.ts";
import { DockerRuntimeError, messageOf, statusOf } from "./engine-errors.ts";

/** Registry credentials for pulls, by registry host ("ghcr.io", "localhost:5000", "docker.io"). */
export type RegistryAuthProvider = (
  registry: string,
) => Promise<{ username: string; password: string; serveraddress?: string } | undefined>;

export interface ResolvedImage {
  id: string;
  user: string;
}

/**
 * Finds the image: by its reference when the engine knows it (pulled or
 * pushed images carry RepoDigests), else — for images built on this host
 * and never pushed — `<repo>@sha256:<image id>` when a local image has that
 * id and is tagged in <repo>, else pulls it.
 */
export async function resolveImage(
  docker: Docker,
  auth: RegistryAuthProvider | undefined,
  ref: string,
): Promise<ResolvedImage> {
  const m = /^(.+)@(sha256:[a-f0-9]{64})$/.exec(ref);
  if (!m)
    throw new DockerRuntimeError(`image "${ref.slice(0, 200)}" is not pinned by digest (name@sha256:…)`);
  const [, repo, digest] = m as unknown as [string, string, string];
  const found = (await inspectImage(docker, ref)) ?? (await localById(docker, repo, digest));
  if (found) return found;
  const registry = registryOf(repo);
  const credentials = auth ? await auth(registry) : undefined;
  try {
    const stream = await docker.pull(
      ref,
      credentials ? { authconfig: { serveraddress: registry, ...credentials } } : {},
    );
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null, events: { error?: string }[]) => {
        const failed = err?.message ?? events.find((e) => e.error)?.error;
        if (failed) reject(new DockerRuntimeError(failed));
        else resolve();
      }),
    );
  } catch (e) {
    // The engine's or the registry's answer must not carry the pull credentials into a check run.
    throw redactError(e, credentials ? [credentials.password] : []);
  }
  const pulled = await inspectImage(docker, ref);
  if (!pulled) throw new DockerRuntimeError(`pulled ${ref} but the engine does not find it`);
  return pulled;
}

async function inspectImage(
  docker: Docker,
  ref: string,
): Promise<(ResolvedImage & { repoTags: string[] }) | undefined> {
  try {
    const info = await docker.getImage(ref).inspect();
    return {
      id: info.Id,
      user: info.Config?.User ?? "",
      repoTags: [...(info.RepoTags ?? []), ...(info.RepoDigests ?? [])],
    };
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

async function localById(docker: Docker, repo: string, digest: string): Promise<ResolvedImage | undefined> {
  const info = await inspectImage(docker, digest);
  // An image id is a content hash, but a tenant must not run another tenant's image by guessing its id: require the name.
  if (!info || info.id !== digest) return undefined;
  return info.repoTags.some((t) => t.replace(/(?:@sha256:[a-f0-9]+|:[^:/]+)$/, "") === repo)
    ? info
    : undefined;
}

/** "ghcr.io/o/r" → "ghcr.io"; "localhost:5000/x" → "localhost:5000"; "o/r" → "docker.io". */
export function registryOf(repo: string): string {
  const first = repo.split("/")[0]!;
  return repo.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")
    ? first
    : "docker.io";
}

/** The engine's reason without its HTTP wrapping and the URL it tried. */
export function pullMessage(err: unknown): string {
  return messageOf(err)
    .replace(/^\(HTTP code \d+\)[^-]*- /, "")
    .replace(/\b(?:Get|Head) "[^"]*": /g, "")
    .trim();
}
