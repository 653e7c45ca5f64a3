// The default branch's .paas.yml: the only config that decides environments,
// their branches, domains and secret scopes (see authorize.ts). Read through
// GitHub by the branch's name, one request, and kept with its ETag; an entry
// older than `ttlMs`, or one a push to the default branch made stale, is
// checked again with a conditional read (a lost push webhook cannot keep old
// authority for long): GitHub answers 304, not counted against its rate limit,
// while the file is unchanged, and the new file otherwise.
import {
  CONFIG_FILE,
  parseConfig,
  resolveApps,
  type LoadedConfig,
  type ResolvedApp,
} from "../config/load.ts";
import { ConfigError } from "../errors.ts";
import type { GitHubPort, RepoRef } from "../github/port.ts";

export interface TrustedConfig {
  defaultBranch: string;
  /** GitHub's ETag of the file as read: the next check asks whether it changed. */
  etag: string | undefined;
  loaded: LoadedConfig | ConfigError;
}

type Reader = Pick<GitHubPort, "defaultBranch" | "getFileIfChanged">;

const MAX_ENTRIES = 1000;

export class TrustedConfigs {
  readonly #github: Reader;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #cache = new Map<number, TrustedConfig & { checkedAt: number }>();
  /** Reads under way, shared by concurrent hand-offs of one repository. */
  readonly #reading = new Map<number, Promise<TrustedConfig>>();
  /** Default branch names as signed webhooks deliver them: no read to learn the name. */
  readonly #branches = new Map<number, string>();
  /** Bumped by a push during a read: a read that began before it is not cached. */
  #generation = 0;

  constructor(github: Reader, now: () => number, ttlMs = 60_000) {
    this.#github = github;
    this.#now = now;
    this.#ttlMs = ttlMs;
  }

  async get(repo: RepoRef & { repositoryId: number }): Promise<TrustedConfig> {
    const cached = this.#cache.get(repo.repositoryId);
    if (cached && this.#now() - cached.checkedAt < this.#ttlMs) return cached;
    const reading = this.#reading.get(repo.repositoryId);
    if (reading) return reading;
    const read: Promise<TrustedConfig> = this.#read(repo).finally(() => {
      if (this.#reading.get(repo.repositoryId) === read) this.#reading.delete(repo.repositoryId);
    });
    this.#reading.set(repo.repositoryId, read);
    return read;
  }

  async #read(repo: RepoRef & { repositoryId: number }): Promise<TrustedConfig> {
    const cached = this.#cache.get(repo.repositoryId);
    const now = this.#now();
    const generation = this.#generation;
    const defaultBranch = this.#branches.get(repo.repositoryId) ?? (await this.#github.defaultBranch(repo));
    // By the branch's name: the file as the branch has it now (its head sha would be a second read).
    const known = cached?.defaultBranch === defaultBranch ? cached : undefined;
    const read = await this.#github.getFileIfChanged(repo, CONFIG_FILE, defaultBranch, known?.etag);
    if (read === "unchanged") {
      // (GitHub answers 304 only to an ETag, and the one sent is known's.) Pushed meanwhile:
      // the answer holds for this hand-off, and the next one asks again.
      if (generation === this.#generation) known!.checkedAt = now;
      return known!;
    }
    const { text, etag } = read;
    let loaded: LoadedConfig | ConfigError;
    try {
      loaded = parseConfig(text);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      loaded = e;
    }
    const entry = { defaultBranch, etag, loaded, checkedAt: now };
    // Pushed meanwhile: use what was read for this hand-off, but do not keep it.
    if (generation !== this.#generation) return entry;
    this.#cache.delete(repo.repositoryId);
    this.#cache.set(repo.repositoryId, entry);
    if (this.#cache.size > MAX_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
    return entry;
  }

  /**
   * A push webhook: a push to the default branch makes that repository's entry stale (checked
   * again at its next use, conditionally: most pushes leave .paas.yml as it was).
   */
  pushed(repositoryId: number, ref: string): void {
    const cached = this.#cache.get(repositoryId);
    if (cached && ref === `refs/heads/${cached.defaultBranch}`) cached.checkedAt = -Infinity;
    // A read under way may have seen the old file (its default branch is not known yet): its
    // result answers the hand-offs waiting for it but is not kept, and the next one reads again.
    if (this.#reading.delete(repositoryId)) this.#generation++;
  }

  /**
   * The default branch's name a signed webhook delivered (`repository.default_branch`), or the
   * hand-off's repository read (admission.ts) named.
   */
  noteDefaultBranch(repositoryId: number, name: string): void {
    if (this.#branches.get(repositoryId) === name) return;
    // Another name than the cached entry's: that entry is another branch's config.
    if (this.#cache.get(repositoryId)?.defaultBranch !== name) this.#cache.delete(repositoryId);
    this.#branches.delete(repositoryId);
    this.#branches.set(repositoryId, name);
    if (this.#branches.size > MAX_ENTRIES) this.#branches.delete(this.#branches.keys().next().value!);
  }

  /** The repository's default branch changed or it left the installation. */
  forget(repositoryId: number): void {
    this.#cache.delete(repositoryId);
    this.#branches.delete(repositoryId);
  }
}

/** The app of this key as the default branch defines it; undefined when it does not (or its config is invalid). */
export function trustedApp(t: TrustedConfig, appKey: string): ResolvedApp | undefined {
  if (t.loaded instanceof ConfigError) return undefined;
  return resolveApps(t.loaded).find((a) => a.key === appKey);
}
