import type { LoadAssignmentDecoder } from "./load-assignment.ts";
import { withRegexEngine } from "../regex-engine.ts";

const CLUSTER_LOAD_ASSIGNMENT_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

/**
 * The decoder the server hands its cluster manager. It lives here, not in
 * core/upstream/eds-cluster.ts, because it needs the config schemas, and those reach the
 * cluster manager (through the server context): the EDS cluster is given it instead of
 * importing it. The schemas load on the first EDS update, never at start.
 */
export const decodeLoadAssignment: LoadAssignmentDecoder = async (resource, path) => {
  const { decodeResource } = await import("./discovery-response.ts");
  const { edsLoadAssignment } = await import("../schema.ts");
  // No regex in a ClusterLoadAssignment; were one added, its check would load the engine (regex-engine.ts).
  // Not released after: the schema is small and EDS updates come often. But edsLoadAssignment
  // and the stand-ins it shares (addresses, health checks…) are module-scope ones, which every
  // releaseSchemas() drops (validateConfig, each LDS/CDS/RDS/SDS update): the next EDS update
  // after one builds them again (lazy-schema.ts).
  return withRegexEngine(() => decodeResource(resource, CLUSTER_LOAD_ASSIGNMENT_TYPE, edsLoadAssignment, path, 0));
};
