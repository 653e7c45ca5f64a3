import assert from "node:assert/strict";
import { test } from "node:test";
import {
  parseGoMod,
  parsePlainRustToolchain,
  parsePythonSpec,
  parsePythonVersionFile,
  parseRuntimeTxt,
  pythonMinorFor,
} from "../../src/detect/versions.ts";

test("requires-python: the lowest admissible supported minor", () => {
  const cases: [string, string | undefined][] = [
    [">=3.11", "3.11"],
    [">=3.11.4", "3.11"],
    [">= 3.12, <4", "3.12"],
    [">3.11", "3.11"], // 3.11.1 > 3.11
    [">3.11.99", "3.12"],
    ["~=3.11", "3.11"],
    ["~=3.11.2", "3.11"],
    ["==3.13.*", "3.13"],
    ["==3.12", "3.12"],
    ["!=3.10.*,>=3.10", "3.11"],
    ["<3.14,>=3.8", "3.10"], // older minors are end-of-life: the oldest supported one
    [">=3.6", "3.10"],
    ["<3.9", "3.8"], // nothing supported admitted: the newest admitted
    ["^3.11", "3.11"], // Poetry
    ["~3.12", "3.12"],
    [">=3.8 <4.0", "3.10"],
    ["3.11.*", "3.11"],
    ["3.12", "3.12"],
    ["3.9 || 3.13", "3.13"],
    ["*", "3.10"],
    [">=4", undefined],
    ["<3.11,>3.12", undefined],
    ["banana", undefined],
    [">=3.11; rm -rf /", undefined],
  ];
  for (const [spec, want] of cases) {
    assert.equal(pythonMinorFor(spec)?.version, want, spec);
  }
  assert.deepEqual(pythonMinorFor(">=3.8"), { version: "3.10", belowOldest: true });
  assert.deepEqual(pythonMinorFor(">=3.11"), { version: "3.11", belowOldest: false });
});

test("specifier predicates follow PEP 440 on patch versions", () => {
  const admits = parsePythonSpec("~=3.11.2")!;
  assert.equal(admits([3, 11, 1]), false);
  assert.equal(admits([3, 11, 2]), true);
  assert.equal(admits([3, 12, 0]), false);
  assert.equal(parsePythonSpec("x".repeat(1000)), undefined);
});

test(".python-version and runtime.txt", () => {
  assert.equal(parsePythonVersionFile("3.12\n").version, "3.12");
  assert.equal(parsePythonVersionFile("# pinned\n\n  3.11.9  \n3.10\n").version, "3.11.9");
  assert.equal(parsePythonVersionFile("cpython-3.13.1-linux-x86_64-gnu").version, "3.13.1");
  assert.equal(parsePythonVersionFile("python3.12").version, "3.12");
  assert.equal(parsePythonVersionFile("pypy3.10").version, undefined);
  assert.equal(parsePythonVersionFile("system").version, undefined);
  assert.equal(parsePythonVersionFile("3.12; curl evil").version, undefined);
  assert.equal(parsePythonVersionFile("").version, undefined);
  assert.equal(parseRuntimeTxt("python-3.11.4\n").version, "3.11.4");
  assert.equal(parseRuntimeTxt("python-3.12").version, "3.12");
  assert.equal(parseRuntimeTxt("3.11.4").version, undefined);
  assert.equal(parseRuntimeTxt("python-2.7.18").version, undefined);
});

test("go.mod directives", () => {
  const mod = parseGoMod(
    [
      "// comment",
      'module "example.com/a/v2" // trailing',
      "",
      "go 1.22.3",
      "toolchain go1.23.4",
      "require (",
      "\texample.com/go v1.0.0",
      "\tgo 1.1",
      ")",
    ].join("\r\n"),
  );
  assert.deepEqual(mod, {
    module: "example.com/a/v2",
    go: "1.22.3",
    toolchain: "1.23.4",
    badToolchain: undefined,
  });
  assert.equal(parseGoMod("module x\ngo 1.21\ntoolchain go1.22rc1\n").toolchain, "1.22");
  assert.equal(parseGoMod("module x\ngo 1.21\ntoolchain default\n").badToolchain, "default");
  assert.equal(parseGoMod("module x\ngo 1.21; rm\n").go, undefined);
  assert.deepEqual(parseGoMod(""), {
    module: undefined,
    go: undefined,
    toolchain: undefined,
    badToolchain: undefined,
  });
});

test("plain rust-toolchain file", () => {
  assert.equal(parsePlainRustToolchain("\n# pin\nnightly-2024-05-01\n"), "nightly-2024-05-01");
  assert.equal(parsePlainRustToolchain(""), "");
});
