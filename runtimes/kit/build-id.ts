/**
 * The build's id: a hash of the sources and dependencies a build of the command was made
 * from (scripts/build-runtimes.mjs defines POLYVOY_BUILD_ID when it bundles). From the
 * sources there is none: what the command keeps per build (checked configs) is then not kept.
 */
declare const POLYVOY_BUILD_ID: string | undefined;

export const BUILD_ID: string | undefined = typeof POLYVOY_BUILD_ID === "string" ? POLYVOY_BUILD_ID : undefined;
