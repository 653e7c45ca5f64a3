// The layer rules of eslint.config.js (docs/ARCHITECTURE.md) refuse an import
// against the direction, and accept the allowed ones: linted as if the file
// were at that place in src/.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";

const root = fileURLToPath(new URL("../../", import.meta.url));
const eslint = new ESLint({
  cwd: root,
  // Only the import rules matter here; type information needs files on disk.
  overrideConfig: {
    languageOptions: { parserOptions: { projectService: false } },
    rules: { "@typescript-eslint/no-floating-promises": "off" },
  },
});

async function refused(path: string, from: string): Promise<boolean> {
  const code = `import { x } from "${from}";\nexport const y = x;\n`;
  const [result] = await eslint.lintText(code, { filePath: `${root}${path}` });
  return result!.messages.some((m) => m.ruleId === "no-restricted-imports");
}

describe("layer rules", () => {
  it("the core, config and names import nothing above them", async () => {
    assert.equal(await refused("src/core/x.ts", "../app/deployer.ts"), true);
    assert.equal(await refused("src/core/x.ts", "../runtime/types.ts"), true);
    assert.equal(await refused("src/config/x.ts", "../settings/app.ts"), true);
    assert.equal(await refused("src/core/x.ts", "../names.ts"), false);
  });

  it("runtimes, DNS and the GitHub adapter import only the core", async () => {
    assert.equal(await refused("src/runtime/docker/x.ts", "../../dns/owner.ts"), true);
    assert.equal(await refused("src/dns/x.ts", "../runtime/types.ts"), true);
    assert.equal(await refused("src/github/x.ts", "../app/report.ts"), true);
    assert.equal(await refused("src/dns/x.ts", "../core/ownership.ts"), false);
  });

  it("use cases import ports, never adapters or the server", async () => {
    assert.equal(await refused("src/app/x.ts", "../github/octokit.ts"), true);
    assert.equal(await refused("src/app/x.ts", "../runtime/docker/runtime.ts"), true);
    assert.equal(await refused("src/app/x.ts", "./server.ts"), true);
    assert.equal(await refused("src/app/x.ts", "../github/port.ts"), false);
    assert.equal(
      await refused("src/server/server.ts", "../github/octokit.ts"),
      false,
      "the composition root wires them",
    );
  });
});
