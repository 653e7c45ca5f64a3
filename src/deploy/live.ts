// What this process knows about the deployments of each environment: which one
// is live (so the one it replaces goes inactive after the new one is live) and
// which ones it already set inactive (teardown and replacement skip them).
// GitHub's deployments hold the same across restarts; this saves reads.
import { remember } from "./common.ts";

export class LiveDeployments {
  /** Live deployment id by `envKey|environment`; 0 when known to have none. */
  readonly #live = new Map<string, number>();
  readonly #inactive = new Map<number, true>();

  /** A new environment (a just-opened pull request) has no deployment to replace. */
  noteNew(envKey: string, environment: string): void {
    const key = liveKey(envKey, environment);
    if (!this.#live.has(key)) remember(this.#live, key, 0);
  }

  /** The live deployment: a number, 0 for known none, undefined when unknown (read GitHub). */
  current(envKey: string, environment: string): number | undefined {
    return this.#live.get(liveKey(envKey, environment));
  }

  setCurrent(envKey: string, environment: string, deploymentId: number): void {
    remember(this.#live, liveKey(envKey, environment), deploymentId);
  }

  /** The GitHub environments of this lock key that had a deployment here. */
  environmentsOf(envKey: string): string[] {
    const prefix = `${envKey}|`;
    return [...this.#live.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }

  forget(envKey: string, environment: string): void {
    this.#live.delete(liveKey(envKey, environment));
  }

  markInactive(deploymentId: number): void {
    remember(this.#inactive, deploymentId, true);
  }

  isInactive(deploymentId: number): boolean {
    return this.#inactive.has(deploymentId);
  }
}

function liveKey(envKey: string, environment: string): string {
  return `${envKey}|${environment}`;
}
