// The .paas.yml of a commit, read once: the webhook, the hand-off and a resume
// of the same commit share one read. An invalid file is cached as its error.
// Each file read is also kept by its git blob sha (its content's name): a
// pull request's hand-off names the merge commit, whose file is nearly always
// the head's that the pull_request webhook read, and when the Action says so
// (the hand-off's `configBlob`) that copy answers without reading it again.
// The name is checked against content GitHub served for this repository, so a
// wrong one can only select another of its own .paas.yml files, which a push
// to the branch could do anyway; an unknown name reads the commit's file.
// A file read whose content was parsed before (a new commit that left
// .paas.yml alone, the usual push) is not parsed again (#16).
import { CONFIG_FILE, parseConfig, type LoadedConfig } from "../config/load.ts";
import { gitBlobSha } from "../contract/handoff.ts";
import { ConfigError } from "../errors.ts";
import type { GitHubPort, RepoInfo } from "../github/port.ts";
import { remember } from "./common.ts";

type Parsed = LoadedConfig | ConfigError;

export class CommitConfigs {
  readonly #github: Pick<GitHubPort, "getFile">;
  readonly #configs = new Map<string, Parsed>();
  /** The same parsed files by `repositoryId:blob sha`. */
  readonly #byBlob = new Map<string, Parsed>();

  constructor(github: Pick<GitHubPort, "getFile">) {
    this.#github = github;
  }

  /**
   * The commit's config, or the ConfigError that says what is wrong with it. `blob`: the git
   * blob sha of the commit's .paas.yml as the caller saw it; a file read earlier with that
   * content answers without a request.
   */
  async get(repo: RepoInfo, sha: string, blob?: string): Promise<Parsed> {
    const key = `${repo.repositoryId}@${sha}`;
    const cached =
      this.#configs.get(key) ?? (blob ? this.#byBlob.get(`${repo.repositoryId}:${blob}`) : undefined);
    if (cached) {
      remember(this.#configs, key, cached);
      return cached;
    }
    const text = await this.#github.getFile(repo, CONFIG_FILE, sha);
    // An absent file has no blob: a commit without .paas.yml is always read.
    const blobKey = text === undefined ? undefined : `${repo.repositoryId}:${gitBlobSha(text)}`;
    const result = (blobKey && this.#byBlob.get(blobKey)) || parsed(text);
    remember(this.#configs, key, result);
    if (blobKey) remember(this.#byBlob, blobKey, result);
    return result;
  }
}

function parsed(text: string | undefined): Parsed {
  try {
    return parseConfig(text);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e;
  }
}
