/**
 * A filter state object that can be written out (Envoy's StreamInfo::FilterState::Object:
 * serializeAsString, and serializeAsProto printed by MessageToJsonString), as the access
 * log's %FILTER_STATE(KEY:PLAIN)% and %FILTER_STATE(KEY)% / (KEY:TYPED) read it. A value in
 * a stream's filterState without these methods is not serializable: logged as unset.
 */
export interface SerializableFilterState {
  /** The PLAIN form; undefined when the object has none. */
  serializeAsString(): string | undefined;
  /** The TYPED form: its proto as protobuf's JSON printer writes it (lowerCamel names, 64-bit integers as strings, defaults omitted). */
  serializeAsJson(): string | undefined;
}

export function isSerializableFilterState(value: unknown): value is SerializableFilterState {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as SerializableFilterState).serializeAsString === "function" &&
    typeof (value as SerializableFilterState).serializeAsJson === "function"
  );
}
