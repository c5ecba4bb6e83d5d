/**
 * Stands in for zod's `core/json-schema-processors.js` in the Worker bundle only (wrangler.toml
 * `[alias]`): zod's own JSON Schema output (`schema.toJSONSchema()`), which every schema kind
 * references but nothing here calls. The OpenAPI document is built by @asteasolutions/zod-to-openapi,
 * which reads `minLength`, `format`… through `aggregateChecks`: that one is zod's own.
 * test/unit/worker-bundle.test.ts checks these names against zod's module.
 */
export { aggregateChecks } from '../../../../node_modules/zod/v4/core/json-schema-processors.js';

const unavailable = (): never => {
  throw new Error("zod's JSON Schema output is not part of the Worker bundle (cloud/src/entry/workers-zod/json-schema-processors.ts)");
};

export const allProcessors = {};
export const stringProcessor = unavailable;
export const numberProcessor = unavailable;
export const booleanProcessor = unavailable;
export const bigintProcessor = unavailable;
export const symbolProcessor = unavailable;
export const nullProcessor = unavailable;
export const undefinedProcessor = unavailable;
export const voidProcessor = unavailable;
export const neverProcessor = unavailable;
export const anyProcessor = unavailable;
export const unknownProcessor = unavailable;
export const dateProcessor = unavailable;
export const enumProcessor = unavailable;
export const literalProcessor = unavailable;
export const nanProcessor = unavailable;
export const templateLiteralProcessor = unavailable;
export const fileProcessor = unavailable;
export const successProcessor = unavailable;
export const customProcessor = unavailable;
export const functionProcessor = unavailable;
export const transformProcessor = unavailable;
export const mapProcessor = unavailable;
export const setProcessor = unavailable;
export const arrayProcessor = unavailable;
export const objectProcessor = unavailable;
export const unionProcessor = unavailable;
export const intersectionProcessor = unavailable;
export const tupleProcessor = unavailable;
export const recordProcessor = unavailable;
export const nullableProcessor = unavailable;
export const nonoptionalProcessor = unavailable;
export const defaultProcessor = unavailable;
export const prefaultProcessor = unavailable;
export const catchProcessor = unavailable;
export const pipeProcessor = unavailable;
export const readonlyProcessor = unavailable;
export const promiseProcessor = unavailable;
export const optionalProcessor = unavailable;
export const lazyProcessor = unavailable;
export const toJSONSchema = unavailable;
