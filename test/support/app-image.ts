// The App's own image (root Dockerfile) built with the real engine. No public
// registry is reachable here, so NODE_IMAGE is a local image made from the
// debootstrap base plus this very Node binary, npm and the host's CA bundle.
import { execFile } from "node:child_process";
import { cp, mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const NODE_IMAGE = "paas-test/node24:local";

export async function docker(...argv: string[]): Promise<{ stdout: string; stderr: string }> {
  return run("docker", argv, { maxBuffer: 64 << 20, timeout: 900_000 });
}

/** Builds NODE_IMAGE (the Dockerfile's base) from the local runtime base image. */
export async function buildNodeImage(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "paas-node-image-"));
  try {
    await cp(dirname(dirname(process.execPath)), join(dir, "node"), { recursive: true });
    // The npm package that runs `npm` here (bin/npm-cli.js → its package folder).
    const npmCli = await realpath((await run("sh", ["-c", "command -v npm"])).stdout.trim());
    await cp(dirname(dirname(npmCli)), join(dir, "npm"), { recursive: true });
    await cp("/etc/ssl/certs/ca-certificates.crt", join(dir, "ca.crt"));
    await writeFile(
      join(dir, "Dockerfile"),
      [
        "FROM paas-base/runtime:bookworm",
        "COPY node /usr/local",
        "COPY npm /usr/local/lib/node_modules/npm",
        "COPY ca.crt /etc/ssl/certs/ca-certificates.crt",
        "RUN ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && npm config set --global cafile /etc/ssl/certs/ca-certificates.crt",
        "",
      ].join("\n"),
    );
    await docker("build", "-q", "-t", NODE_IMAGE, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Builds the App's image from the repository as `tag` (NODE_IMAGE must exist). */
export async function buildAppImage(tag: string): Promise<void> {
  await docker("build", "-q", "--build-arg", `NODE_IMAGE=${NODE_IMAGE}`, "-t", tag, ROOT);
}
