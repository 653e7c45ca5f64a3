// The App's own image (root Dockerfile, run by k8s/): it builds with the
// project's lock file, runs as the non-root user k8s/deployment.yaml expects,
// and `paas start` inside it validates settings like the App on a host.
// No public registry is reachable here, so NODE_IMAGE is a local image made
// from the debootstrap base plus this Node binary and npm.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const NODE_IMAGE = "paas-test/node24:local";
const APP_IMAGE = `paas-test/app:${process.pid}`;
let dir: string;

async function docker(...argv: string[]): Promise<{ stdout: string; stderr: string }> {
  return run("docker", argv, { maxBuffer: 64 << 20, timeout: 900_000 });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "paas-node-image-"));
  // Node (this very binary), npm, and the host's CA bundle (the registry may sit behind a custom CA).
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
});

after(async () => {
  await docker("rmi", "-f", APP_IMAGE).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

test("the App image builds from the repository and runs `paas` as user 10001", async () => {
  await docker("build", "-q", "--build-arg", `NODE_IMAGE=${NODE_IMAGE}`, "-t", APP_IMAGE, root);
  const user = (await docker("image", "inspect", APP_IMAGE, "--format", "{{.Config.User}}")).stdout.trim();
  assert.equal(user, "10001:10001");
  const version = await docker("run", "--rm", "--read-only", APP_IMAGE, "--version");
  assert.equal(
    version.stdout.trim(),
    (JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string }).version,
  );
  // Dev dependencies stay out of the image.
  const ls = await docker("run", "--rm", "--entrypoint", "ls", APP_IMAGE, "node_modules");
  assert.match(ls.stdout, /^probot$/m);
  assert.doesNotMatch(ls.stdout, /^(typescript|eslint|fast-check)$/m);
  // `paas start` in a cluster: settings are validated before anything starts.
  const start = await docker(
    "run",
    "--rm",
    "--read-only",
    "-e",
    "PAAS_RUNTIME=kubernetes",
    APP_IMAGE,
    "start",
  ).catch((e: { stdout: string; stderr: string; code: number }) => e);
  assert.equal((start as { code?: number }).code, 1);
  assert.match(start.stderr, /APP_ID/);
  assert.match(start.stderr, /PAAS_PUBLIC_URL/);
});
