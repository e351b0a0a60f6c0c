/** The types zod keeps under `z.core` that the config layer names. */
export type { $ZodIssue, $ZodIssueCustom, $ZodIssueInvalidValue, $ZodRawIssue } from "./issues.ts";
