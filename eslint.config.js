// Lint rules: the recommended sets, the few that catch real async bugs
// (type-aware no-floating-promises), the size limits of docs/ARCHITECTURE.md,
// and the direction of dependencies between layers (no-restricted-imports).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** An import whose path goes through one of these folders. */
const through = (...folders) => `(^|/)(${folders.join("|")})/`;

const layer = (files, folders, why, ignores = []) => ({
  files,
  ignores,
  rules: {
    "no-restricted-imports": [
      "error",
      { patterns: [{ regex: through(...folders), message: `${why} (docs/ARCHITECTURE.md, layers)` }] },
    ],
  },
});

export default tseslint.config(
  { ignores: ["node_modules/", "action/dist/", ".tools/", "coverage/", "**/fixtures/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "off",
    },
  },
  {
    // A promise nobody awaits loses its error: type-aware, so it sees through helpers.
    files: ["**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          // node:test registers suites and tests synchronously; their promises are the runner's.
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["describe", "it", "test", "suite"] },
          ],
        },
      ],
    },
  },
  {
    // Sizes: a file or function beyond these is split, or says at its top why not.
    files: ["src/**/*.ts", "action/src/**/*.ts"],
    rules: {
      "max-lines": ["error", { max: 400, skipBlankLines: true, skipComments: true }],
      "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }],
      "max-params": ["error", 4],
    },
  },
  // Layers: each imports only what is below it.
  layer(
    ["src/core/**", "src/config/**", "src/contract/**", "src/names.ts", "src/errors.ts"],
    ["app", "cli", "server", "deploy", "settings", "runtime", "dns", "github", "detect", "build", "image"],
    "the core, config, contract and names import nothing above them",
  ),
  layer(
    ["src/runtime/**"],
    ["app", "cli", "server", "deploy", "settings", "dns", "github"],
    "a runtime imports only the core (and its own folder)",
  ),
  layer(
    ["src/dns/**"],
    ["app", "cli", "server", "deploy", "settings", "runtime", "github"],
    "a DNS provider imports only the core (and its own folder)",
  ),
  layer(
    ["src/github/**"],
    ["app", "cli", "server", "deploy", "settings", "runtime", "dns"],
    "the GitHub adapter imports only the core (and its own folder)",
  ),
  {
    // Use cases take ports: the adapters and the server are wired by the composition root.
    files: ["src/app/**", "src/deploy/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex:
                "(^|/)(github/octokit\\.ts|runtime/(docker|kubernetes)/|dns/(cloudflare|wildcard|none|index)\\.ts|server(\\.ts|/))",
              message: "use cases import ports, never adapters or the server (docs/ARCHITECTURE.md, layers)",
            },
          ],
        },
      ],
    },
  },
);
