// The contract's door for the programs built on Larder (bin/, examples/): the public
// interfaces, the byte-level Backend, errors, limits and the argument rules. The other
// folders import the proto/ file that owns what they need.

export type * from "./api.ts";
export type * from "./backend.ts";
export * from "./errors.ts";
export { CEILINGS, DEFAULT_LIMITS, resolveLimits } from "./limits.ts";
export type { Limits } from "./limits.ts";
export { DEFAULT_ENVIRONMENT, ENVIRONMENT_LENGTH_MAX, NAME_LENGTH_MAX, validateEnvironment, validateName } from "./validate.ts";
export { PACKAGE_VERSION } from "./version.ts";
export { LOG_LEVELS, checkLogLevel } from "./log-levels.ts";
export type { LogLevel } from "./log-levels.ts";
