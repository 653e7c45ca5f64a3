import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { goDependencyPackages, goImports } from "../../src/image/go-deps.ts";

describe("Go imports", () => {
  it("reads single, grouped, aliased, blank and dot imports after comments and the package clause", () => {
    const src = `// Copyright
/* a block
   comment with import "not/this" */
//go:build linux

package main // trailing

import "fmt"
import (
\tchi "github.com/go-chi/chi/v5" // router
\t_ "github.com/lib/pq"
\t. "example.com/dot"
\t"golang.org/x/time/rate"; "net/http"
\t\`example.com/raw\`
)

import "example.com/third"

func main() { _ = "example.com/in/a/string" }
`;
    assert.deepEqual(goImports(src), [
      "fmt",
      "github.com/go-chi/chi/v5",
      "github.com/lib/pq",
      "example.com/dot",
      "golang.org/x/time/rate",
      "net/http",
      "example.com/raw",
      "example.com/third",
    ]);
  });

  it("reads nothing from an ignored file or one that is not Go", () => {
    assert.deepEqual(goImports('//go:build ignore\n\npackage main\nimport "example.com/tool"\n'), []);
    assert.deepEqual(goImports("not go at all"), []);
    assert.deepEqual(goImports('package main\nimport "unterminated'), []);
  });

  it("lists the third-party packages of a module's tree, not the standard library, the module, tests, vendor or nested modules", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "paas-go-deps-"));
    try {
      const put = async (rel: string, text: string) => {
        await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
        await writeFile(path.join(dir, rel), text);
      };
      await put("go.mod", "module example.com/app\n");
      await put(
        "main.go",
        'package main\nimport (\n"fmt"\n"example.com/app/internal/db"\n"github.com/b/two"\n)\n',
      );
      await put("internal/db/db.go", 'package db\nimport "github.com/a/one"\nimport "github.com/b/two"\n');
      await put("internal/db/db_test.go", 'package db\nimport "github.com/test/only"\n');
      await put("vendor/github.com/x/y/y.go", 'package y\nimport "github.com/vendored/dep"\n');
      await put("testdata/t.go", 'package t\nimport "github.com/testdata/dep"\n');
      await put(".hidden/h.go", 'package h\nimport "github.com/hidden/dep"\n');
      await put("tools/go.mod", "module example.com/tools\n");
      await put("tools/t.go", 'package tools\nimport "github.com/nested/module"\n');
      await put("bad.go", 'package main\nimport "github.com/x/$(id)"\n');
      assert.deepEqual(await goDependencyPackages(dir, "example.com/app"), [
        "github.com/a/one",
        "github.com/b/two",
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
