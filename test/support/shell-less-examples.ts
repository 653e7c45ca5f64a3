// The Go and Rust examples built as users' apps are: the generated Dockerfile,
// the local toolchain images as builders and paas-base/noshell (no /bin/sh, no
// programs: distroless-like, scripts/base-images.sh) as the runtime image. The
// deploy spec runs the detected start command, as `paas deploy` does.
import path from "node:path";
import type Docker from "dockerode";
import { buildApp } from "../../src/image/index.ts";
import { parseConfig, resolveApps } from "../../src/config/load.ts";
import { planDeploy, type PlatformSettings } from "../../src/core/plan.ts";
import { parseEnvironment } from "../../src/names.ts";
import type { DeploySpec } from "../../src/runtime/types.ts";

export const NO_SHELL_IMAGE = "paas-base/noshell:bookworm";
export const SHELL_LESS_EXAMPLES = ["go", "rust"] as const;
export type ShellLessExample = (typeof SHELL_LESS_EXAMPLES)[number];

const ROOT = path.join(import.meta.dirname, "..", "..");

export interface BuiltExample {
  /** Local image id (sha256:…). */
  id: string;
  /** The detected start command the deploy runs (e.g. `./hello`). */
  start: string;
  sha: string;
}

/** Builds examples/<name> on the shell-less runtime image; throws when the engine lacks it, naming the fix. */
export async function buildShellLessExample(
  docker: Docker,
  name: ShellLessExample,
  tag: string,
  sha: string,
): Promise<BuiltExample> {
  await docker
    .getImage(NO_SHELL_IMAGE)
    .inspect()
    .catch(() => {
      throw new Error(`${NO_SHELL_IMAGE} is missing: build it with \`bash scripts/base-images.sh\``);
    });
  const { prepared, result } = await buildApp(docker, {
    root: path.join(ROOT, "examples", name),
    baseImages: { builder: `paas-base/${name}:bookworm`, runtime: NO_SHELL_IMAGE },
    tags: [tag],
    sha,
  });
  if (!prepared.plan.start) throw new Error(`examples/${name}: no start command detected`);
  return { id: result.imageId, start: prepared.plan.start, sha };
}

/** The deploy spec for a built example, planned by the core planner with its detected start command. */
export function exampleSpec(
  o: { image: string; repo: string; environment: string; sha: string; start: string },
  settings: PlatformSettings,
): DeploySpec {
  // The examples carry no .paas.yml: the defaults, with the health path they serve.
  const [app] = resolveApps(parseConfig("run: { port: 8080, healthcheck: { path: /healthz } }"));
  return planDeploy(
    {
      target: { owner: "acme", repo: o.repo, app: "", environment: parseEnvironment(o.environment) },
      repositoryId: 4242,
      config: app!.config,
      image: o.image,
      sha: o.sha,
      detectedStart: o.start,
    },
    settings,
  );
}
