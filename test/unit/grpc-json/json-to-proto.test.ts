/**
 * The gRPC-JSON transcoder's JSON → protobuf codec against protobufjs reading the same .proto
 * (an independent implementation), and its errors as grpc-httpjson-transcoding words them
 * (status_error_listener.cc: "<location>: invalid value <value> for type <type>"). Unknown
 * JSON names are skipped, as request_message_translator.cc has protobuf's converter do.
 */
import { describe, expect, it } from "vitest";
import { decodeDescriptorSet } from "../../../core/grpc-json/descriptor-set.ts";
import { TranscodeError, type FieldBinding, type JsonParseOptions } from "../../../core/grpc-json/descriptors.ts";
import { encodeMessage, encodeRequestMessage } from "../../../core/grpc-json/json-to-proto.ts";
import { libraryDescriptorSet } from "../../helpers/grpc-json-descriptor.ts";
import { libraryProtobufjs } from "../../helpers/grpc-json-protobufjs.ts";

const pool = decodeDescriptorSet(libraryDescriptorSet());
const root = libraryProtobufjs();
const OPTIONS: JsonParseOptions = { caseInsensitiveEnumParsing: false, rejectBindingBodyFieldCollisions: false };

/** Our bytes for `json` as protobufjs reads them back (64-bit as strings, enums by name, bytes base64). */
function viaProtobufjs(type: string, json: unknown, options = OPTIONS): Record<string, unknown> {
  const bytes = encodeMessage(pool, pool.message(type)!, json, options);
  const T = root.lookupType(type);
  return T.toObject(T.decode(bytes), { longs: String, enums: String, bytes: String, json: true });
}

function encodeError(type: string, json: unknown, options = OPTIONS): TranscodeError {
  try {
    encodeMessage(pool, pool.message(type)!, json, options);
  } catch (error) {
    if (error instanceof TranscodeError) return error;
    throw error;
  }
  throw new Error("no error");
}

describe("encodeMessage: proto3's JSON mapping", () => {
  it("writes what protobufjs reads back, byte for byte as protobufjs writes it", () => {
    const json = {
      id: "v1",
      name: "Dune",
      authors: ["Frank", "Herbert"],
      cover: "AQID",
      pages: "412",
      edition: -3,
      isbn: "18446744073709551615",
      weight: 0.5,
      shelf: "A-3",
      note: "",
      kinds: ["READING", "ARCHIVE"],
    };
    const bytes = encodeMessage(pool, pool.message("library.v1.Volume")!, json, OPTIONS);
    const Volume = root.lookupType("library.v1.Volume");
    const decoded = Volume.decode(bytes);
    expect(Volume.toObject(decoded, { longs: String, enums: String, bytes: String })).toEqual({
      id: "v1",
      name: "Dune",
      authors: ["Frank", "Herbert"],
      cover: "AQID",
      pages: "412",
      edition: -3,
      isbn: "18446744073709551615",
      weight: 0.5,
      shelf: "A-3",
      note: "",
      kinds: ["READING", "ARCHIVE"],
    });
    // Canonical: number order, kinds packed, note (proto3 optional) written though "".
    expect(Buffer.from(bytes).toString("hex")).toBe(Buffer.from(Volume.encode(decoded).finish()).toString("hex"));
  });

  it("takes .proto names and JSON names", () => {
    expect(viaProtobufjs("library.v1.Room", { curator: "Ann", opened_at: "2024-01-02T03:04:05Z" })).toEqual({
      curator_name: "Ann",
      opened_at: { seconds: "1704164645" },
    });
    expect(viaProtobufjs("library.v1.Room", { curator_name: "Bo", openedAt: "2024-01-02T03:04:05Z" })).toEqual({
      curator_name: "Bo",
      opened_at: { seconds: "1704164645" },
    });
    // Not the lowerCamelCase one when json_name says otherwise: that is an unknown name, skipped.
    expect(viaProtobufjs("library.v1.Room", { curatorName: "Bo" })).toEqual({});
  });

  it("reads 64-bit integers exactly from strings, and from numbers", () => {
    expect(viaProtobufjs("library.v1.Volume", { pages: "18446744073709551615", isbn: 9007199254740991 })).toEqual({
      pages: "18446744073709551615",
      isbn: "9007199254740991",
    });
    expect(viaProtobufjs("library.v1.Room", { id: "-9223372036854775808" })).toEqual({ id: "-9223372036854775808" });
    expect(viaProtobufjs("library.v1.Room", { id: 1e3, floor: 7.0 })).toEqual({ id: "1000", floor: 7 });
    expect(viaProtobufjs("library.v1.Room", { id: "+12" })).toEqual({ id: "12" });
    // A bigint (an integer a lossless JSON parser kept exact) is taken as it is.
    expect(viaProtobufjs("library.v1.Volume", { pages: 18446744073709551615n, weight: 2n })).toEqual({ pages: "18446744073709551615", weight: 2 });
    expect(encodeError("library.v1.Room", { floor: 4294967296n }).message).toBe("floor: invalid value 4294967296 for type TYPE_UINT32");
    // In quotes, only decimal digits (datapiece.cc: safe_strto64).
    expect(encodeError("library.v1.Room", { id: "1e3" }).message).toBe('id: invalid value "1e3" for type TYPE_INT64');
    expect(encodeError("library.v1.Room", { id: " 1" }).message).toBe('id: invalid value " 1" for type TYPE_INT64');
  });

  it("refuses integers out of range or with a fraction", () => {
    expect(encodeError("library.v1.Room", { id: "9223372036854775808" }).message).toBe('id: invalid value "9223372036854775808" for type TYPE_INT64');
    expect(encodeError("library.v1.Room", { floor: -1 }).message).toBe("floor: invalid value -1 for type TYPE_UINT32");
    expect(encodeError("library.v1.Room", { floor: 1.5 }).message).toBe("floor: invalid value 1.5 for type TYPE_UINT32");
    expect(encodeError("library.v1.GetRoomRequest", { floor: 4294967296 }).message).toBe("floor: invalid value 4294967296 for type TYPE_UINT32");
    expect(encodeError("library.v1.Volume", { bin: 2147483648 }).message).toBe("bin: invalid value 2147483648 for type TYPE_INT32");
    expect(encodeError("library.v1.Volume", { pages: "12a" }).message).toBe('pages: invalid value "12a" for type TYPE_UINT64');
  });

  it("reads floats and doubles, NaN and the infinities as strings", () => {
    expect(viaProtobufjs("library.v1.Room", { temperature: "NaN" })).toEqual({ temperature: "NaN" });
    expect(viaProtobufjs("library.v1.Room", { temperature: "-Infinity" })).toEqual({ temperature: "-Infinity" });
    expect(viaProtobufjs("library.v1.Room", { temperature: "2.5" })).toEqual({ temperature: 2.5 });
    expect(viaProtobufjs("library.v1.Volume", { weight: "Infinity" })).toEqual({ weight: "Infinity" });
    expect(encodeError("library.v1.Volume", { weight: 1e39 }).message).toBe("weight: invalid value 1e+39 for type TYPE_FLOAT");
  });

  it("reads bytes as standard or URL-safe base64, padding optional", () => {
    for (const text of ["+/8=", "-_8=", "-_8", "+/8"]) expect(viaProtobufjs("library.v1.Volume", { cover: text })).toEqual({ cover: "+/8=" });
    expect(encodeError("library.v1.Volume", { cover: "a*b" }).message).toBe('cover: invalid value "a*b" for type TYPE_BYTES');
  });

  it("reads enums by name or number; case_insensitive_enum_parsing; an unknown name is an error", () => {
    expect(viaProtobufjs("library.v1.Room", { kind: 2 })).toEqual({ kind: "ARCHIVE" });
    expect(viaProtobufjs("library.v1.Room", { kind: "READING" })).toEqual({ kind: "READING" });
    expect(encodeError("library.v1.Room", { kind: "reading" }).message).toBe('kind: invalid value "reading" for type type.googleapis.com/library.v1.Kind');
    expect(viaProtobufjs("library.v1.Room", { kind: "reading" }, { ...OPTIONS, caseInsensitiveEnumParsing: true })).toEqual({ kind: "READING" });
    // A declared number in quotes is taken; an undeclared one is not.
    expect(viaProtobufjs("library.v1.Room", { kind: "2" })).toEqual({ kind: "ARCHIVE" });
    expect(encodeError("library.v1.Room", { kind: "9" }).message).toBe('kind: invalid value "9" for type type.googleapis.com/library.v1.Kind');
    // An unknown number is kept (open enums).
    const bytes = encodeMessage(pool, pool.message("library.v1.Room")!, { kind: 9 }, OPTIONS);
    expect(Buffer.from(bytes).toString("hex")).toBe("1809");
  });

  it("reads null as the default, google.protobuf.Value's null as NULL_VALUE", () => {
    expect(viaProtobufjs("library.v1.Volume", { name: null, authors: null, copies: null, loanPeriod: null })).toEqual({});
    expect(viaProtobufjs("library.v1.Volume", { extra: null })).toEqual({ extra: { nullValue: "NULL_VALUE" } });
  });

  // protobufjs has its own struct.proto, with camelCase field names.
  it("reads the well-known types in their JSON forms", () => {
    expect(
      viaProtobufjs("library.v1.Volume", {
        loanPeriod: "-1.000000500s",
        copies: 0,
        attributes: { a: [1, "x", null, true, { b: {} }] },
        updateMask: "loanPeriod,attributes.fooBar",
        extra: 2.5,
      }),
    ).toEqual({
      loan_period: { seconds: "-1", nanos: -500 },
      copies: {},
      attributes: {
        fields: {
          a: {
            listValue: {
              values: [{ numberValue: 1 }, { stringValue: "x" }, { nullValue: "NULL_VALUE" }, { boolValue: true }, { structValue: { fields: { b: { structValue: {} } } } }],
            },
          },
        },
      },
      update_mask: { paths: ["loan_period", "attributes.foo_bar"] },
      extra: { numberValue: 2.5 },
    });
    expect(viaProtobufjs("library.v1.Room", { openedAt: "1970-01-01T01:00:00.5+01:00" })).toEqual({ opened_at: { nanos: 500000000 } });
    expect(viaProtobufjs("library.v1.Room", { openedAt: "0001-01-01T00:00:00Z" })).toEqual({ opened_at: { seconds: "-62135596800" } });
    // protostream_objectwriter.cc: "Field '<JSON name>', <renderer's message>" as the invalid value.
    expect(encodeError("library.v1.Room", { openedAt: "2024-02-30T00:00:00Z" }).message).toBe(
      "opened_at: invalid value Field 'openedAt', Invalid time format: 2024-02-30T00:00:00Z for type type.googleapis.com/google.protobuf.Timestamp",
    );
    expect(encodeError("library.v1.Room", { opened_at: 5 }).message).toBe(
      "opened_at: invalid value Field 'opened_at', Invalid data type for timestamp, value is 5 for type type.googleapis.com/google.protobuf.Timestamp",
    );
    expect(encodeError("library.v1.Volume", { loanPeriod: "5" }).message).toBe(
      "loan_period: invalid value Field 'loanPeriod', Illegal duration format; duration must end with 's' for type type.googleapis.com/google.protobuf.Duration",
    );
    expect(encodeError("library.v1.Volume", { loanPeriod: "x.5s" }).message).toBe(
      "loan_period: invalid value Field 'loanPeriod', Invalid duration format, failed to parse seconds for type type.googleapis.com/google.protobuf.Duration",
    );
    expect(encodeError("library.v1.Volume", { loanPeriod: "315576000001s" }).message).toBe(
      "loan_period: invalid value Field 'loanPeriod', Duration value exceeds limits for type type.googleapis.com/google.protobuf.Duration",
    );
    expect(encodeError("library.v1.Volume", { copies: "x" }).message).toBe('copies.value: invalid value "x" for type TYPE_INT32');
    expect(viaProtobufjs("google.protobuf.Empty", {})).toEqual({});
  });

  it("reads Any: a message's fields beside @type, a WKT under value; types from the pool", () => {
    const any = (json: unknown) => {
      const bytes = encodeMessage(pool, pool.message("google.protobuf.Any")!, json, OPTIONS);
      const Any = root.lookupType("google.protobuf.Any");
      const decoded = Any.toObject(Any.decode(bytes)) as { type_url: string; value: Uint8Array };
      const inner = root.lookupType(decoded.type_url.slice(decoded.type_url.lastIndexOf("/") + 1));
      return { type_url: decoded.type_url, value: inner.toObject(inner.decode(decoded.value), { longs: String, enums: String }) };
    };
    expect(any({ "@type": "type.googleapis.com/library.v1.Echo", text: "hi", n: "5" })).toEqual({
      type_url: "type.googleapis.com/library.v1.Echo",
      value: { text: "hi", n: "5" },
    });
    expect(any({ "@type": "type.googleapis.com/google.protobuf.Duration", value: "3s" })).toEqual({
      type_url: "type.googleapis.com/google.protobuf.Duration",
      value: { seconds: "3" },
    });
    expect(encodeError("google.protobuf.Any", { "@type": "type.googleapis.com/x.Nope" }).message).toBe(
      "google.protobuf.Any: invalid value Invalid type URL, unknown type: x.Nope for type Any",
    );
    expect(encodeError("google.protobuf.Any", { text: "x" }).message).toBe(
      "google.protobuf.Any: invalid value Missing @type for any field in google.protobuf.Any for type Any",
    );
    expect(encodeError("google.protobuf.Any", { "@type": "Echo" }).message).toBe(
      "google.protobuf.Any: invalid value Invalid type URL, type URLs must be of the form 'type.googleapis.com/<typename>', got: Echo for type Any",
    );
  });

  it("reads maps with keys from their string form", () => {
    const bytes = encodeMessage(pool, pool.message("library.v1.Volume")!, { related: { "-5": { id: "r" } } }, OPTIONS);
    const Volume = root.lookupType("library.v1.Volume");
    const decoded = Volume.decode(bytes) as unknown as { related: Record<string, { id: string }> };
    expect(Object.values(decoded.related)).toEqual([expect.objectContaining({ id: "r" })]);
    expect(Buffer.from(bytes).toString("hex")).toBe("8a011008fbffffffffffffffff0112030a0172");
    expect(viaProtobufjs("library.v1.Room", { shelfCounts: { east: 3, west: 0 } })).toEqual({ shelf_counts: { east: 3, west: 0 } });
    expect(encodeError("library.v1.Volume", { related: { x: {} } }).message).toBe('related["x"]: invalid value "x" for type TYPE_INT64');
  });

  it("skips an unknown field, whatever its value (request_message_translator.cc: ignore_unknown_fields)", () => {
    expect(viaProtobufjs("library.v1.Room", { roomNumber: { deep: [1, { x: null }] }, title: "t" })).toEqual({ title: "t" });
    expect(viaProtobufjs("library.v1.CreateRoomRequest", { room: { bad: 1, floor: 2 } })).toEqual({ room: { floor: 2 } });
    const any = encodeMessage(pool, pool.message("google.protobuf.Any")!, { "@type": "type.googleapis.com/google.protobuf.Duration", value: "1s", extra: 1 }, OPTIONS);
    expect(Buffer.from(any).toString("hex")).toBe(Buffer.from(encodeMessage(pool, pool.message("google.protobuf.Any")!, { "@type": "type.googleapis.com/google.protobuf.Duration", value: "1s" }, OPTIONS)).toString("hex"));
  });

  it("takes a single value for a repeated field as its one element (the converter's legacy form)", () => {
    expect(viaProtobufjs("library.v1.Room", { tags: "x" })).toEqual({ tags: ["x"] });
    expect(viaProtobufjs("library.v1.ListRoomsResponse", { rooms: { title: "t" } })).toEqual({ rooms: [{ title: "t" }] });
  });

  it("refuses a oneof set twice, a value of the wrong kind", () => {
    expect(encodeError("library.v1.Volume", { shelf: "a", bin: 2 }).message).toBe(
      "bin: invalid value oneof field 'location' is already set. Cannot set 'bin' for type oneof",
    );
    expect(encodeError("library.v1.Room", { tags: [1] }).message).toBe("tags[0]: invalid value 1 for type TYPE_STRING");
    expect(encodeError("library.v1.Room", { temperature: "1e999" }).message).toBe('temperature: invalid value "1e999" for type TYPE_DOUBLE');
    expect(encodeError("library.v1.Volume", { edition: 1.5e300 }).message).toBe("edition: invalid value 1.5e+300 for type TYPE_SINT32");
    expect(encodeError("library.v1.Room", { title: 5 }).message).toBe("title: invalid value 5 for type TYPE_STRING");
    expect(encodeError("library.v1.Room", []).message).toBe("library.v1.Room: invalid value […] for type type.googleapis.com/library.v1.Room");
  });

  it("bounds nesting", () => {
    let json: unknown = {};
    for (let i = 0; i < 150; i++) json = { related: { "1": json } };
    expect(encodeError("library.v1.Volume", json).message).toMatch(/message nested too deeply \(over 100 levels\)$/);
  });
});

describe("encodeRequestMessage: the body and the bindings", () => {
  const decode = (type: string, bytes: Uint8Array) => {
    const T = root.lookupType(type);
    return T.toObject(T.decode(bytes), { longs: String, enums: String, bytes: String });
  };
  const request = (type: string, body: { json: unknown; field: string } | undefined, bindings: FieldBinding[], options = OPTIONS) =>
    decode(type, encodeRequestMessage(pool, pool.message(type)!, body, bindings, options));
  const requestError = (type: string, body: { json: unknown; field: string } | undefined, bindings: FieldBinding[], options = OPTIONS) => {
    try {
      encodeRequestMessage(pool, pool.message(type)!, body, bindings, options);
    } catch (error) {
      if (error instanceof TranscodeError) return error;
      throw error;
    }
    throw new Error("no error");
  };

  it("parses each binding's text by its field's type, through nested messages", () => {
    expect(
      request("library.v1.GetRoomRequest", undefined, [
        { fieldPath: ["room_id"], value: "-42" },
        { fieldPath: ["floor"], value: "3" },
        { fieldPath: ["includeClosed"], value: "true" },
        { fieldPath: ["kind"], value: "ARCHIVE" },
      ]),
    ).toEqual({ room_id: "-42", floor: 3, include_closed: true, kind: "ARCHIVE" });
    expect(
      request("library.v1.UpdateVolumeRequest", undefined, [
        { fieldPath: ["volume", "id"], value: "v9" },
        { fieldPath: ["volume", "cover"], value: "AQID" },
        { fieldPath: ["volume", "loan_period"], value: "2.5s" },
        { fieldPath: ["volume", "copies"], value: "4" },
        { fieldPath: ["volume", "updateMask"], value: "a,bC" },
      ]),
    ).toEqual({ volume: { id: "v9", cover: "AQID", loan_period: { seconds: "2", nanos: 500000000 }, copies: { value: 4 }, update_mask: { paths: ["a", "b_c"] } } });
    expect(request("library.v1.LendRequest", undefined, [{ fieldPath: ["due"], value: "2024-01-02T03:04:05.5Z" }])).toEqual({
      due: { seconds: "1704164645", nanos: 500000000 },
    });
  });

  it("reads a bool binding as safe_strtob does: true/t/yes/y/1 and false/f/no/n/0, any case", () => {
    for (const [text, value] of [["1", true], ["YES", true], ["t", true], ["0", false], ["No", false], ["FALSE", false]] as const) {
      expect(request("library.v1.GetRoomRequest", undefined, [{ fieldPath: ["include_closed"], value: text }])).toEqual(value ? { include_closed: true } : {});
    }
    expect(requestError("library.v1.GetRoomRequest", undefined, [{ fieldPath: ["include_closed"], value: "maybe" }]).message).toBe(
      'include_closed: invalid value "maybe" for type TYPE_BOOL',
    );
  });

  it("appends to a repeated field, a query parameter given twice twice", () => {
    expect(
      request("library.v1.GetVolumeRequest", { json: ["a"], field: "fields" }, [
        { fieldPath: ["fields"], value: "b" },
        { fieldPath: ["fields"], value: "c" },
      ]),
    ).toEqual({ fields: ["a", "b", "c"] });
  });

  it("a binding naming no field is an unknownField error; a message or map target is an error", () => {
    const unknown = requestError("library.v1.GetRoomRequest", undefined, [{ fieldPath: ["nope"], value: "1" }]);
    expect([unknown.message, unknown.unknownField]).toEqual(['Could not find field "nope" in the type "library.v1.GetRoomRequest".', true]);
    const nested = requestError("library.v1.UpdateVolumeRequest", undefined, [{ fieldPath: ["volume", "nope"], value: "1" }]);
    expect([nested.message, nested.unknownField]).toEqual(['Could not find field "nope" in the type "library.v1.Volume".', true]);
    expect(requestError("library.v1.UpdateVolumeRequest", undefined, [{ fieldPath: ["volume"], value: "x" }]).message).toBe(
      "volume: a binding cannot set a message field of type library.v1.Volume",
    );
    expect(requestError("library.v1.Volume", undefined, [{ fieldPath: ["related"], value: "x" }]).message).toBe("related: a binding cannot set a map field");
    expect(requestError("library.v1.GetRoomRequest", undefined, [{ fieldPath: ["room_id"], value: "abc" }]).unknownField).toBe(false);
  });

  it("body \"*\" is the whole message; a named body field is that field's value", () => {
    expect(request("library.v1.LendRequest", { json: { name: "n", reader: "r" }, field: "*" }, [])).toEqual({ name: "n", reader: "r" });
    expect(request("library.v1.CreateRoomRequest", { json: { title: "Map room" }, field: "room" }, [])).toEqual({ room: { title: "Map room" } });
  });

  it("where the body set a field a binding also sets, the body's value stays (request_weaver.cc)", () => {
    const bindings = [{ fieldPath: ["volume", "id"], value: "from-path" }];
    expect(request("library.v1.UpdateVolumeRequest", { json: { id: "from-body" }, field: "volume" }, bindings)).toEqual({ volume: { id: "from-body" } });
    expect(request("library.v1.LendRequest", { json: { name: "b" }, field: "*" }, [{ fieldPath: ["name"], value: "b" }], { ...OPTIONS, rejectBindingBodyFieldCollisions: true })).toEqual({
      name: "b",
    });
    expect(
      requestError("library.v1.UpdateVolumeRequest", { json: { id: "from-body" }, field: "volume" }, bindings, { ...OPTIONS, rejectBindingBodyFieldCollisions: true }).message,
    ).toBe("The binding value from-path of the field id is conflicting with the value from-body in the body.");
    // The weaver matches the body's keys against .proto names: under a JSON name it does not
    // see the body's value, and the binding, written after, wins.
    expect(request("library.v1.UpdateVolumeRequest", { json: { roomId: "1" }, field: "*" }, [{ fieldPath: ["room_id"], value: "2" }])).toEqual({ room_id: "2" });
  });
});
