// The default branch's .paas.yml: the only config that decides environments,
// their branches, domains and secret scopes (see authorize.ts). Read through
// GitHub at the default branch's head and cached by that head sha; a push to
// the default branch drops the entry, and an entry older than `ttlMs` is
// checked against the branch head again (a lost push webhook cannot keep old
// authority for long).
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
  /** Head sha of the default branch the config was read at; undefined for an empty repository. */
  head: string | undefined;
  loaded: LoadedConfig | ConfigError;
}

type Reader = Pick<GitHubPort, "defaultBranch" | "branchHead" | "getFile">;

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
    const head = await this.#github.branchHead(repo, defaultBranch);
    if (cached && head !== undefined && cached.head === head && cached.defaultBranch === defaultBranch) {
      cached.checkedAt = now;
      return cached;
    }
    // Read at the sha (not the branch name) so the config is the one the cache key names.
    const text = await this.#github.getFile(repo, CONFIG_FILE, head ?? defaultBranch);
    let loaded: LoadedConfig | ConfigError;
    try {
      loaded = parseConfig(text);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      loaded = e;
    }
    const entry = { defaultBranch, head, loaded, checkedAt: now };
    // Pushed meanwhile: use what was read for this hand-off, but do not keep it.
    if (generation !== this.#generation) return entry;
    this.#cache.delete(repo.repositoryId);
    this.#cache.set(repo.repositoryId, entry);
    if (this.#cache.size > MAX_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
    return entry;
  }

  /** A push webhook: a new head of the default branch invalidates that repository's entry. */
  pushed(repositoryId: number, ref: string, sha: string): void {
    const cached = this.#cache.get(repositoryId);
    if (cached && ref === `refs/heads/${cached.defaultBranch}` && sha !== cached.head)
      this.#cache.delete(repositoryId);
    // A read under way may have seen the old head (its default branch is not known yet): its
    // result answers the hand-offs waiting for it but is not kept, and the next one reads again.
    if (this.#reading.delete(repositoryId)) this.#generation++;
  }

  /** The default branch's name a signed webhook delivered (`repository.default_branch`). */
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
