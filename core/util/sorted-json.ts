/**
 * JSON text of a JSON value (what config and metadata hold) with every object's keys sorted,
 * arrays in order: Envoy writes a google.protobuf.Struct this way (Json::Utility's
 * structValueToJson, source/common/json/json_utility.cc), so an access log line does not
 * depend on the order the config listed the keys in. JSON.stringify cannot do it: it puts
 * integer-like keys first whatever the order asked for.
 */
export function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => sortedJson(item === undefined ? null : item)).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const fields: string[] = [];
    for (const key of Object.keys(record).sort()) {
      if (record[key] !== undefined) fields.push(`${JSON.stringify(key)}:${sortedJson(record[key])}`);
    }
    return `{${fields.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
