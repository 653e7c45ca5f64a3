// The contents calls of the GitHub adapter (octokit.ts delegates here, which
// keeps that file under the size limit): read a file, conditionally; and for
// onboarding, list a commit's files, create a branch, add files without
// overwriting, open and find a pull request.
import type { ProbotOctokit } from "probot";
import { httpStatus, type RepoRef } from "./port.ts";

/**
 * A file's text and ETag; "unchanged" when GitHub answers 304 to `etag` (If-None-Match).
 * Read with the raw media type: the answer is the file's bytes, so its ETag names the content
 * only (the JSON answer's download_url carries a token for a private repository, which would
 * make every ETag new).
 */
export async function readFile(
  o: ProbotOctokit,
  r: RepoRef,
  f: { path: string; ref: string; etag: string | undefined },
): Promise<"unchanged" | { text: string | undefined; etag: string | undefined }> {
  try {
    const headers = f.etag === undefined ? {} : { "if-none-match": f.etag };
    const res = await o.rest.repos.getContent({
      owner: r.owner,
      repo: r.repo,
      path: f.path,
      ref: f.ref,
      headers,
      mediaType: { format: "raw" },
    });
    // A directory at the path still answers its JSON listing: not a file.
    const data: unknown = res.data;
    return { text: typeof data === "string" ? data : undefined, etag: res.headers.etag };
  } catch (e) {
    // Octokit throws on 304: the content is still the one `etag` names.
    if (httpStatus(e) === 304 && f.etag !== undefined) return "unchanged";
    if (httpStatus(e) === 404) return { text: undefined, etag: undefined };
    throw e;
  }
}

export async function listFiles(
  o: ProbotOctokit,
  r: RepoRef,
  sha: string,
): Promise<{ paths: string[]; truncated: boolean }> {
  const { data } = await o.rest.git.getTree({ owner: r.owner, repo: r.repo, tree_sha: sha, recursive: "1" });
  return {
    paths: data.tree.filter((e) => e.type === "blob" && typeof e.path === "string").map((e) => e.path!),
    truncated: data.truncated,
  };
}

export async function createBranch(
  o: ProbotOctokit,
  r: RepoRef,
  branch: string,
  sha: string,
): Promise<boolean> {
  try {
    await o.rest.git.createRef({ owner: r.owner, repo: r.repo, ref: `refs/heads/${branch}`, sha });
    return true;
  } catch (e) {
    // "Reference already exists"
    if (httpStatus(e) === 422) return false;
    throw e;
  }
}

export async function addFile(
  o: ProbotOctokit,
  r: RepoRef,
  f: { branch: string; path: string; content: string; message: string },
): Promise<boolean> {
  try {
    // Without `sha` GitHub refuses to replace an existing file (422): nothing is ever overwritten.
    await o.rest.repos.createOrUpdateFileContents({
      owner: r.owner,
      repo: r.repo,
      path: f.path,
      branch: f.branch,
      message: f.message,
      content: Buffer.from(f.content, "utf8").toString("base64"),
    });
    return true;
  } catch (e) {
    if (httpStatus(e) === 422) return false;
    throw e;
  }
}

export async function createPull(
  o: ProbotOctokit,
  r: RepoRef,
  p: { title: string; head: string; base: string; body: string },
): Promise<number> {
  const { data } = await o.rest.pulls.create({ owner: r.owner, repo: r.repo, ...p });
  return data.number;
}

export async function pullsFromBranch(
  o: ProbotOctokit,
  r: RepoRef,
  branch: string,
): Promise<{ number: number; state: "open" | "closed" }[]> {
  const { data } = await o.rest.pulls.list({
    owner: r.owner,
    repo: r.repo,
    head: `${r.owner}:${branch}`,
    state: "all",
    per_page: 100,
  });
  return data.map((p) => ({ number: p.number, state: p.state as "open" | "closed" }));
}
