// Before the Docker runtime is used: is the engine reachable, does Caddy's
// admin API answer? Each problem comes with the command that fixes it.
import type Docker from "dockerode";
import { PaasError } from "../../errors.ts";
import type { CaddyClient } from "./caddy.ts";

export class PrereqError extends PaasError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super("prerequisites", `the Docker runtime cannot start:\n- ${problems.join("\n- ")}`);
    this.problems = problems;
  }
}

export interface PrereqTargets {
  docker: Docker;
  /** How the engine was addressed, for the message (PAAS_DOCKER_HOST or the default socket). */
  dockerHost: string;
  caddy: CaddyClient;
}

/** Throws PrereqError naming every missing part; resolves when both answer. */
export async function checkDockerPrereqs({ docker, dockerHost, caddy }: PrereqTargets): Promise<void> {
  const problems: string[] = [];
  const [engine, admin] = await Promise.allSettled([docker.ping(), caddy.ping()]);
  if (engine.status === "rejected") {
    problems.push(engineProblem(dockerHost));
  }
  if (admin.status === "rejected") {
    problems.push(
      `Caddy's admin API does not answer at ${caddy.adminUrl}: start Caddy (\`caddy run\`; \`sudo systemctl start caddy\` for the packaged service), ` +
        `or set PAAS_CADDY_ADMIN to its admin address`,
    );
  }
  if (problems.length > 0) throw new PrereqError(problems);
}

/** The engine does not answer: what to run. */
export function engineProblem(dockerHost: string): string {
  return (
    `the Docker engine does not answer at ${dockerHost}: start it (\`sudo systemctl start docker\`, or \`sudo dockerd &\`), ` +
    `make sure this user may use it (\`sudo usermod -aG docker $USER\`), or set PAAS_DOCKER_HOST`
  );
}
