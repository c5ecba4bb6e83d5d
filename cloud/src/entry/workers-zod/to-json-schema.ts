/**
 * Stands in for zod's `core/to-json-schema.js` in the Worker bundle only (wrangler.toml `[alias]`):
 * the makers of `schema.toJSONSchema()` and Standard Schema's `jsonSchema`, which nothing here calls
 * (see json-schema-processors.ts). Calling one in the Worker says so.
 */
const unavailable =
  () =>
  (): never => {
    throw new Error("zod's JSON Schema output is not part of the Worker bundle (cloud/src/entry/workers-zod/to-json-schema.ts)");
  };

export const createToJSONSchemaMethod = unavailable;
export const createStandardJSONSchemaMethod = unavailable;
