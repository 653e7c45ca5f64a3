// The .paas.yml of a commit, read once: the webhook, the hand-off and a resume
// of the same commit share one read. An invalid file is cached as its error.
import { CONFIG_FILE, parseConfig, type LoadedConfig } from "../config/load.ts";
import { ConfigError } from "../errors.ts";
import type { GitHubPort, RepoInfo } from "../github/port.ts";
import { remember } from "./common.ts";

export class CommitConfigs {
  readonly #github: Pick<GitHubPort, "getFile">;
  readonly #configs = new Map<string, LoadedConfig | ConfigError>();

  constructor(github: Pick<GitHubPort, "getFile">) {
    this.#github = github;
  }

  /** The commit's config, or the ConfigError that says what is wrong with it. */
  async get(repo: RepoInfo, sha: string): Promise<LoadedConfig | ConfigError> {
    const key = `${repo.repositoryId}@${sha}`;
    const cached = this.#configs.get(key);
    if (cached) return cached;
    const text = await this.#github.getFile(repo, CONFIG_FILE, sha);
    let result: LoadedConfig | ConfigError;
    try {
      result = parseConfig(text);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      result = e;
    }
    remember(this.#configs, key, result);
    return result;
  }
}
