// The tree-walking .dockerignore matcher against @balena/dockerignore (an
// implementation of Docker's matcher file by file) on generated patterns and
// paths, and on the cases Docker documents. The whole-tree comparison with the
// Docker CLI itself is in context.test.ts.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import dockerignoreModule from "@balena/dockerignore";
import fc from "fast-check";
import { DockerIgnore } from "../../src/image/dockerignore.ts";

const reference = dockerignoreModule as unknown as typeof dockerignoreModule.default;

function ours(text: string, rel: string): boolean {
  const m = new DockerIgnore(text);
  const dir = path.posix.dirname(rel);
  return m.ignores(rel, m.folder(dir === "." ? "" : dir));
}

describe("DockerIgnore", () => {
  it("follows Docker's documented rules", () => {
    const text = [
      "# comment",
      "*/temp*",
      "*/*/temp*",
      "temp?",
      "**/*.go",
      "!keep.go",
      "/root.txt",
      "docs/",
    ].join("\n");
    const cases: [string, boolean][] = [
      ["somedir/temporary.txt", true],
      ["somedir/subdir/temporary.txt", true],
      ["tempa", true],
      ["tempab", false],
      ["a/b/c.go", true],
      ["keep.go", false],
      ["root.txt", true],
      ["sub/root.txt", false],
      ["docs/x/y.md", true],
      ["docsx/y.md", false],
    ];
    for (const [rel, excluded] of cases) assert.equal(ours(text, rel), excluded, rel);
  });

  it("agrees with a file-by-file implementation of Docker's matcher", () => {
    const segment = fc.constantFrom("a", "b", "src", "x.log", "y.go", "temp1", ".git", "node_modules");
    const patternPart = fc.constantFrom(
      "a",
      "b",
      "*",
      "**",
      "?",
      "*.log",
      "src",
      "temp?",
      ".git",
      "node_modules",
    );
    const pattern = fc
      .tuple(fc.boolean(), fc.boolean(), fc.array(patternPart, { minLength: 1, maxLength: 3 }))
      .map(([neg, root, parts]) => `${neg ? "!" : ""}${root ? "/" : ""}${parts.join("/")}`);
    fc.assert(
      fc.property(
        fc.array(pattern, { minLength: 1, maxLength: 4 }),
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        (patterns, parts) => {
          const text = patterns.join("\n");
          const rel = parts.join("/");
          const expected = reference({ ignorecase: false }).add(text).ignores(rel);
          assert.equal(ours(text, rel), expected, `${JSON.stringify(patterns)} ${rel}`);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
