// Unit tests for the pure helpers (node --test ui/src/); no browser needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { joinTarget } from "./links.js";

const here = { origin: "http://pair.local:8420" };

test("a pasted link or room id leads to the room", () => {
  const id = "6f1c2a8e-1b2c-4d5e-8f90-123456789abc";
  assert.equal(joinTarget(`http://pair.local:8420/r/${id}`, here), `/r/${id}`);
  assert.equal(joinTarget(`  ${id.toUpperCase()}  `, here), `/r/${id}`);
  assert.equal(joinTarget(`see https://other.example/r/${id}?x=1`, here), `/r/${id}`);
  assert.equal(joinTarget(`https://other.example/r/${id}`, here), `https://other.example/r/${id}`);
  assert.equal(joinTarget("", here), null);
  assert.equal(joinTarget("not a room", here), null);
  assert.equal(joinTarget("javascript:alert(1)", here), null);
});
