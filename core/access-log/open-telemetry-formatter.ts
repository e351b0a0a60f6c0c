/**
 * Envoy's OpenTelemetryFormatter (source/extensions/access_loggers/open_telemetry/
 * substitution_formatter.cc): the open_telemetry access logger's body and attributes are
 * OpenTelemetry AnyValues whose every string, at any depth of kvlists and arrays, is an
 * access log format. Each string leaf is compiled once; formatting a stream gives the same
 * tree with each leaf's text (an operator with no value is "-", Envoy's
 * DefaultUnspecifiedValueString), written as the protobuf AnyValue / KeyValue it becomes.
 *
 * Field numbers (opentelemetry-proto, common/v1/common.proto): AnyValue { string_value 1,
 * bool_value 2, int_value 3, double_value 4, array_value 5, kvlist_value 6, bytes_value 7 };
 * ArrayValue { values 1 }; KeyValueList { values 1 }; KeyValue { key 1, value 2 }.
 */
import type { OtlpAnyValueConfig, OtlpKeyValueConfig } from "../config/bootstrap.ts";
import { latin1Encode } from "../util/latin1.ts";
import type { ProtoWriter } from "../util/protobuf-wire.ts";
import type { AccessLogContext } from "./context.ts";
import { compileTextFormat, type AccessLogFormatter } from "./format.ts";

/** A compiled AnyValue: its string leaves as formatters. */
export type OtlpValueFormat =
  | { readonly kind: "string"; readonly formatter: AccessLogFormatter }
  | { readonly kind: "array"; readonly values: readonly OtlpValueFormat[] }
  | { readonly kind: "kvlist"; readonly values: readonly OtlpKeyValueFormat[] };

export interface OtlpKeyValueFormat {
  readonly key: string;
  readonly value: OtlpValueFormat;
}

/** Envoy's exception for any other kind of value in a format (FormatBuilder::toFormatMapValue). */
export const ONLY_STRINGS_LISTS_ARRAYS = "Only string values, nested key value lists and array values are supported in OpenTelemetry access log format.";

/** Compile a body or attribute value (the config schema has checked the kinds and formats). */
export function compileOtlpValue(value: OtlpAnyValueConfig): OtlpValueFormat {
  switch (value.kind) {
    case "string":
      return { kind: "string", formatter: compileTextFormat(value.value) };
    case "array":
      return { kind: "array", values: value.values.map(compileOtlpValue) };
    case "kvlist":
      return { kind: "kvlist", values: compileOtlpKeyValues(value.values) };
    default:
      throw new Error(ONLY_STRINGS_LISTS_ARRAYS);
  }
}

export function compileOtlpKeyValues(values: readonly OtlpKeyValueConfig[]): OtlpKeyValueFormat[] {
  return values.map((kv) => ({ key: kv.key, value: compileOtlpValue(kv.value) }));
}

/** Write the AnyValue `format` gives for `ctx` (its fields, into an AnyValue message being built). */
export function writeFormattedValue(w: ProtoWriter, format: OtlpValueFormat, ctx: AccessLogContext): void {
  switch (format.kind) {
    case "string":
      // The formatter's text is a byte string. A oneof member: written even when empty.
      writeStringValue(w, latin1Encode(format.formatter.format(ctx)));
      return;
    case "array":
      w.message(5, (array) => {
        for (const value of format.values) array.message(1, (v) => writeFormattedValue(v, value, ctx));
      });
      return;
    case "kvlist":
      w.message(6, (list) => writeFormattedKeyValues(list, 1, format.values, ctx));
      return;
  }
}

/** Each KeyValue of `values` as field `field` of the message being built. */
export function writeFormattedKeyValues(w: ProtoWriter, field: number, values: readonly OtlpKeyValueFormat[], ctx: AccessLogContext): void {
  for (const kv of values) {
    w.message(field, (entry) => {
      entry.string(1, kv.key);
      entry.message(2, (v) => writeFormattedValue(v, kv.value, ctx));
    });
  }
}

/** A literal AnyValue (resource_attributes), as written in the config. */
export function writeLiteralValue(w: ProtoWriter, value: OtlpAnyValueConfig): void {
  switch (value.kind) {
    case "string":
      w.explicitString(1, value.value);
      return;
    case "bool":
      w.explicitUint(2, value.value ? 1 : 0);
      return;
    case "int":
      if (value.value >= 0) w.explicitUint(3, value.value);
      else w.int64(3, value.value);
      return;
    case "double":
      w.explicitDouble(4, value.value);
      return;
    case "array":
      w.message(5, (array) => {
        for (const each of value.values) array.message(1, (v) => writeLiteralValue(v, each));
      });
      return;
    case "kvlist":
      w.message(6, (list) => writeLiteralKeyValues(list, 1, value.values));
      return;
  }
}

export function writeLiteralKeyValues(w: ProtoWriter, field: number, values: readonly OtlpKeyValueConfig[]): void {
  for (const kv of values) {
    w.message(field, (entry) => {
      entry.string(1, kv.key);
      entry.message(2, (v) => writeLiteralValue(v, kv.value));
    });
  }
}

function writeStringValue(w: ProtoWriter, bytes: Uint8Array): void {
  if (bytes.byteLength === 0) w.explicitString(1, "");
  else w.bytesField(1, bytes);
}
