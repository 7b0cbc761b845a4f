// tests/web/messages.test.mjs: both languages of the console have the same texts, and every
// text key the pages name exists (web/assets/messages.js), including each API error code
// the handlers can answer with.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { MESSAGES } from "../../web/assets/messages.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function files(dir, ext) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? files(join(dir, d.name), ext) : d.name.endsWith(ext) ? [join(dir, d.name)] : []);
}

test("English and Chinese have the same keys, none empty", () => {
  assert.ok("nav.workspaces" in MESSAGES.en && "nav.workspaces" in MESSAGES.zh); // the pages' own file is merged
  assert.deepEqual(Object.keys(MESSAGES.zh).sort(), Object.keys(MESSAGES.en).sort());
  for (const [lang, m] of Object.entries(MESSAGES)) for (const [k, v] of Object.entries(m)) assert.ok(v.trim(), lang + " " + k);
});

test("every key named in the pages exists", () => {
  const used = new Set();
  for (const f of files(join(root, "web", "assets"), ".js")) {
    for (const m of readFileSync(f, "utf8").matchAll(/\bt\("([a-z_]+\.[a-z_]+)"[),]/g)) used.add(m[1]);
    for (const m of readFileSync(f, "utf8").matchAll(/"(nav\.[a-z_]+)"/g)) used.add(m[1]);
  }
  assert.ok(used.size > 100);
  for (const k of used) assert.ok(k in MESSAGES.en, k);
});

test("every error code the server answers with has a sentence", () => {
  const codes = new Set();
  for (const dir of ["handlers", "plugins", "fcgi", "core"]) {
    for (const f of files(join(root, dir), ".c")) {
      const text = readFileSync(f, "utf8");
      for (const m of text.matchAll(/(?:reply_error|send_error)\(\s*req,\s*\d{3},\s*"([a-z_]+)"/g)) codes.add(m[1]);
      // the jump's refusals (handlers/workspace/jump.c) go through their own helpers
      for (const m of text.matchAll(/(?:answer_refusal|refuse)\(\s*st,\s*req,\s*(?:&f,\s*)?\d{3},\s*"([a-z_]+)"/g)) codes.add(m[1]);
    }
  }
  for (const m of readFileSync(join(root, "nginx", "ecd-dev.conf.in"), "utf8").matchAll(/"code":"([a-z_]+)"/g)) codes.add(m[1]);
  assert.ok(codes.size > 20);
  for (const c of codes) assert.ok("err." + c in MESSAGES.en, c);
});
