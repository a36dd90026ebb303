// Name and environment rules (spec: "Names: 1 to 64 characters of [A-Za-z0-9._-], not
// matching ^ap-[A-Za-z0-9]{22}$ ... Environments: same characters, 2 to 64, starting with a
// letter or digit"). Translates Modal's test_invalid_name, test_object_name and
// test_environment_name.

import { describe, expect, it } from "vitest";
import { InvalidError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { KINDS, service } from "./kinds.ts";

const ALNUM22 = "abcdefghABCDEFGH012345";

export const VALID_NAMES = [
  "a",
  "a".repeat(64),
  "Z9",
  "with.dots_and-dashes",
  "-leading-dash",
  "...",
  `ap-${ALNUM22.slice(1)}`,
  `ap-${ALNUM22}x`,
  `ap-${ALNUM22.slice(1)}_`,
];

export const INVALID_NAMES = [
  "",
  "has space",
  "has/slash",
  "a".repeat(65),
  `ap-${ALNUM22}`,
  "colon:name",
  "star*",
  "ñame",
  "名前",
  "tab\tname",
  "new\nline",
];

const VALID_ENVIRONMENTS = ["ab", "e".repeat(64), "1env", "my-env.x_y", "Dev"];
const INVALID_ENVIRONMENTS = ["", "a", "e".repeat(65), "-env", ".env", "_env", "has space", "env/x", "énv"];

export function objectNamesSuite(h: Harness): void {
  for (const kind of KINDS) {
    describe(`${kind}: names and environments`, () => {
      it("accepts every valid name, exactly 64 characters included", async () => {
        const objects = service(await h.make(), kind);
        for (const name of VALID_NAMES) {
          const handle = await objects.fromName(name, { createIfMissing: true });
          expect(handle.name).toBe(name);
          expect((await objects.fromName(name)).id).toBe(handle.id);
        }
        expect((await objects.list()).length).toBe(VALID_NAMES.length);
      });

      it("rejects every invalid name with InvalidError, and creates nothing", async () => {
        const objects = service(await h.make(), kind);
        for (const name of INVALID_NAMES) {
          await expectError(objects.fromName(name), InvalidError);
          await expectError(objects.fromName(name, { createIfMissing: true }), InvalidError);
          await expectError(objects.create(name), InvalidError);
          await expectError(objects.create(name, { allowExisting: true }), InvalidError);
          await expectError(objects.delete(name), InvalidError);
          await expectError(objects.delete(name, { allowMissing: true }), InvalidError);
        }
        expect(await objects.list()).toEqual([]);
      });

      it("the invalid-name error says what is allowed", async () => {
        const objects = service(await h.make(), kind);
        const err = await expectError(objects.fromName("has space", { createIfMissing: true }), InvalidError);
        expect(err.message).toContain("64");
      });

      it("accepts every valid environment", async () => {
        const objects = service(await h.make(), kind);
        for (const environment of VALID_ENVIRONMENTS) {
          const handle = await objects.fromName("x", { environment, createIfMissing: true });
          expect((await handle.info()).environment).toBe(environment);
          expect((await objects.list({ environment })).map((o) => o.id)).toEqual([handle.id]);
          expect((await (await objects.ephemeral({ environment })).info()).environment).toBe(environment);
          await objects.create("y", { environment });
          await objects.delete("y", { environment });
        }
      });

      it("rejects every invalid environment with InvalidError in every call that takes one", async () => {
        const objects = service(await h.make(), kind);
        for (const environment of INVALID_ENVIRONMENTS) {
          await expectError(objects.fromName("x", { environment, createIfMissing: true }), InvalidError);
          await expectError(objects.ephemeral({ environment }), InvalidError);
          await expectError(objects.create("x", { environment }), InvalidError);
          await expectError(objects.list({ environment }), InvalidError);
          await expectError(objects.delete("x", { environment, allowMissing: true }), InvalidError);
        }
      });
    });
  }

  it("a store cannot be opened with an invalid default environment", async () => {
    await expectError(h.make({ environment: "x" }), InvalidError);
    await expectError(h.make({ environment: "has space" }), InvalidError);
  });
}
