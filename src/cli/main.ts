// `paas` command line: a thin dispatcher. Each command lives in its own module
// and returns an exit code; errors print like a compiler's (file:line:col).
import { PaasError } from "../errors.ts";
import type { Command, CliIO } from "./io.ts";
import { defaultIO, UsageError } from "./io.ts";

const commands: Record<string, () => Promise<Command>> = {
  validate: async () => (await import("./validate.ts")).validate,
  detect: async () => (await import("./detect.ts")).detectCommand,
  plan: async () => (await import("./plan.ts")).planCommand,
  start: async () => (await import("./start.ts")).startCommand,
  deploy: async () => (await import("./deploy.ts")).deployCommand,
  destroy: async () => (await import("./destroy.ts")).destroyCommand,
  status: async () => (await import("./status.ts")).statusCommand,
  logs: async () => (await import("./logs.ts")).logsCommand,
};

export const USAGE = `paas: deploy Python, Go and Rust apps from GitHub to your own cluster or Docker host

Usage:
  paas validate [dir]                       check .paas.yml; errors as file:line:col
  paas detect [dir] [--json]                show the build plan detection chose, and why
  paas plan [dir] --env <name> [--image <ref@sha256:…>] [--runtime kubernetes|docker]
                                            print what a deploy would apply (dry run; paas plan --help)
  paas start                                start the GitHub App (embedded Docker runtime by default)
  paas deploy [dir] [--env <name>]          build locally and deploy to the Docker runtime
  paas destroy [dir] --env <name>           remove an environment
  paas status [dir] [--json]                environments, URL, sha, health
  paas logs [dir] --env <name> [--follow]   recent log lines, secrets masked (--tail <n>, --app <key>)

Environments: production, a name under .paas.yml environments, or preview/pr-<N>.
Docs: docs/configuration.md, docs/install.md`;

export async function main(argv: string[], io: CliIO = defaultIO()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    io.out(USAGE);
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "version") {
    const pkg = (await import("../../package.json", { with: { type: "json" } })).default as {
      version: string;
    };
    io.out(pkg.version);
    return 0;
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!load) {
    io.err(`paas: unknown command "${name.slice(0, 40)}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await (
      await load()
    )(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`paas ${name}: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof PaasError) {
      io.err(`paas ${name}: error: ${e.message}`);
      return 1;
    }
    io.err(`paas ${name}: internal error: ${(e as Error).stack ?? String(e)}`);
    return 70;
  }
}
