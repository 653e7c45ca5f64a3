// The fake's git and pull request writes, for the onboarding pull request:
// a commit's tree, a new branch, a new file on a branch (a new commit; never
// over an existing file without its sha), a new pull request. Each needs the
// permission GitHub asks for, read from the installation token's permissions
// (the App's app.yml in tests): contents write for refs and files, workflows
// write for anything under .github/workflows/, pull requests write for the PR.
import { randomBytes } from "node:crypto";
import type { ExtraHandler, FakePull, Repo } from "./server.ts";

export interface OnboardingState {
  repos: Map<string, Repo>;
  branches: Map<string, string>;
  pulls: Map<string, FakePull>;
  tokenPermissions: Record<string, string>;
  handlers: Map<string, ExtraHandler>;
}

const newSha = () => randomBytes(20).toString("hex");

export function onboardingHandlers(f: OnboardingState): void {
  const repoOf = (p: Record<string, string>) => {
    const full = `${p.owner}/${p.repo}`.toLowerCase();
    return { full, repo: f.repos.get(full)! };
  };
  /** A sha, or a branch name resolved to its head. */
  const commit = (full: string, repo: Repo, ref: string) =>
    repo.files.has(ref) ? ref : f.branches.get(`${full}:${ref.replace(/^refs\/heads\//, "")}`);
  const may = (what: string) => f.tokenPermissions[what] === "write";
  const forbidden = (what: string) => ({
    message: `Resource not accessible by integration (needs ${what}: write)`,
  });

  f.handlers.set("git/get-tree", ({ params }, send) => {
    const { full, repo } = repoOf(params);
    const sha = commit(full, repo, params.tree_sha!);
    const files = sha ? repo.files.get(sha) : undefined;
    if (!files) return send(404, { message: "Not Found" });
    send(200, {
      sha,
      url: `http://fake/trees/${sha}`,
      truncated: false,
      tree: [...files].map(([path, text]) => ({
        path,
        mode: "100644",
        type: "blob",
        sha: "0".repeat(40),
        size: Buffer.byteLength(text),
      })),
    });
  });

  f.handlers.set("git/create-ref", ({ params, body }, send) => {
    if (!may("contents")) return send(403, forbidden("contents"));
    const { full, repo } = repoOf(params);
    const ref = String(body.ref);
    if (!/^refs\/heads\/.+/.test(ref))
      return send(422, { message: "Reference name must start with refs/heads/" });
    const key = `${full}:${ref.slice("refs/heads/".length)}`;
    if (f.branches.has(key)) return send(422, { message: "Reference already exists" });
    if (!repo.files.has(String(body.sha))) return send(422, { message: "Object does not exist" });
    f.branches.set(key, String(body.sha));
    send(201, { ref, object: { sha: body.sha, type: "commit" } });
  });

  f.handlers.set("repos/create-or-update-file-contents", ({ params, body }, send) => {
    const path = params.path!;
    if (!may("contents")) return send(403, forbidden("contents"));
    if (path.startsWith(".github/workflows/") && !may("workflows"))
      return send(403, {
        message: `refusing to allow a GitHub App to create or update workflow \`${path}\` without \`workflows\` permission`,
      });
    const { full, repo } = repoOf(params);
    const branch = String(body.branch ?? repo.defaultBranch);
    const head = f.branches.get(`${full}:${branch}`);
    if (!head) return send(404, { message: `No commit found for the ref ${branch}` });
    const files = new Map(repo.files.get(head) ?? []);
    if (files.has(path) && body.sha === undefined)
      return send(422, { message: 'Invalid request.\n\n"sha" wasn\'t supplied.' });
    const text = Buffer.from(String(body.content), "base64").toString("utf8");
    if (Buffer.from(text, "utf8").toString("base64") !== String(body.content).replace(/\s/g, ""))
      return send(422, { message: "content is not valid Base64" });
    files.set(path, text);
    const sha = newSha();
    repo.files.set(sha, files);
    f.branches.set(`${full}:${branch}`, sha);
    send(201, { content: { path, name: path.split("/").pop() }, commit: { sha, message: body.message } });
  });

  f.handlers.set("pulls/create", ({ params, body }, send) => {
    if (!may("pull_requests")) return send(403, forbidden("pull_requests"));
    const { full, repo } = repoOf(params);
    const headRef = String(body.head).replace(new RegExp(`^${params.owner}:`, "i"), "");
    const headSha = f.branches.get(`${full}:${headRef}`);
    const base = String(body.base);
    if (!headSha) return send(422, { message: `head ${String(body.head)} does not exist` });
    if (base !== repo.defaultBranch && !f.branches.has(`${full}:${base}`))
      return send(422, { message: `base ${base} does not exist` });
    const mine = [...f.pulls].filter(([k]) => k.startsWith(`${full}#`)).map(([, p]) => p);
    if (mine.some((p) => p.state === "open" && p.headRef === headRef))
      return send(422, { message: `A pull request already exists for ${params.owner}:${headRef}.` });
    const number = Math.max(0, ...mine.map((p) => p.number)) + 1;
    f.pulls.set(`${full}#${number}`, {
      number,
      state: "open",
      headSha,
      mergeSha: null,
      headRef,
      baseRef: base,
      headRepoId: repo.id,
      title: String(body.title),
      body: String(body.body ?? ""),
    });
    send(201, {
      number,
      state: "open",
      title: body.title,
      html_url: `http://fake/${full}/pull/${number}`,
      head: { ref: headRef, sha: headSha },
      base: { ref: base },
    });
  });
}
