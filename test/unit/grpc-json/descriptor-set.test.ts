import { describe, expect, it } from "vitest";
import { decodeDescriptorSet } from "../../../core/grpc-json/descriptor-set.ts";
import { DescriptorError } from "../../../core/grpc-json/descriptors.ts";
import { ProtoWriter } from "../../../core/util/protobuf-wire.ts";
import { libraryDescriptorSet } from "../../helpers/grpc-json-descriptor.ts";

describe("decodeDescriptorSet", () => {
  const pool = decodeDescriptorSet(libraryDescriptorSet());

  it("reads services, methods, streaming and grpc paths", () => {
    const library = pool.service("library.v1.Library")!;
    expect(library.methods.map((m) => m.name)).toEqual([
      "ListRooms", "GetRoom", "CreateRoom", "GetVolume", "UpdateVolume", "LendVolume", "ReturnVolume",
      "SearchCatalog", "ShelveVolumes", "Exchange", "RoomOptions", "Banner", "UploadScan", "Ping",
    ]);
    const byName = new Map(library.methods.map((m) => [m.name, m]));
    expect(byName.get("GetRoom")!.grpcPath).toBe("/library.v1.Library/GetRoom");
    expect(byName.get("GetRoom")!.input.fullName).toBe("library.v1.GetRoomRequest");
    expect(byName.get("ListRooms")!.input.fullName).toBe("google.protobuf.Empty");
    expect(byName.get("Banner")!.output.fullName).toBe("google.api.HttpBody");
    expect([byName.get("SearchCatalog")!.clientStreaming, byName.get("SearchCatalog")!.serverStreaming]).toEqual([false, true]);
    expect([byName.get("ShelveVolumes")!.clientStreaming, byName.get("ShelveVolumes")!.serverStreaming]).toEqual([true, false]);
    expect([byName.get("Exchange")!.clientStreaming, byName.get("Exchange")!.serverStreaming]).toEqual([true, true]);
    expect(pool.service(".library.v1.Library")).toBe(library);
    expect(pool.service("library.v1.Nope")).toBeUndefined();
  });

  it("reads google.api.http rules, additional bindings after the rule", () => {
    const m = new Map(pool.service("library.v1.Library")!.methods.map((x) => [x.name, x.httpRules]));
    expect(m.get("GetRoom")).toEqual([
      { method: "GET", pattern: "/v1/rooms/{room_id}", body: "", responseBody: "" },
      { method: "GET", pattern: "/v1/floors/{floor}/rooms/{room_id}", body: "", responseBody: "" },
    ]);
    expect(m.get("CreateRoom")).toEqual([{ method: "POST", pattern: "/v1/rooms", body: "room", responseBody: "" }]);
    expect(m.get("UpdateVolume")).toEqual([{ method: "PATCH", pattern: "/v1/rooms/{room_id}/volumes/{volume.id}", body: "volume", responseBody: "" }]);
    expect(m.get("ReturnVolume")).toEqual([{ method: "DELETE", pattern: "/v1/loans/{loan_id}", body: "", responseBody: "" }]);
    expect(m.get("RoomOptions")).toEqual([{ method: "OPTIONS", pattern: "/v1/rooms/{room_id}", body: "", responseBody: "" }]);
    expect(m.get("LendVolume")).toEqual([{ method: "POST", pattern: "/v1/{name=rooms/*/volumes/*}:lend", body: "*", responseBody: "" }]);
    expect(m.get("Ping")).toEqual([]);
  });

  it("reads fields: types, JSON names, packing, presence, oneofs, maps, nested and imported types", () => {
    const volume = pool.message("library.v1.Volume")!;
    const room = pool.message("library.v1.Room")!;
    expect(room.field("curator_name")!.jsonName).toBe("curator");
    expect(room.field("curator")).toBe(room.field("curator_name"));
    expect(room.field("openedAt")).toBe(room.field("opened_at"));
    expect(room.field("opened_at")!.message!.fullName).toBe("google.protobuf.Timestamp");
    expect(room.field("kind")!.enumType!.values).toEqual([
      { name: "KIND_UNSPECIFIED", number: 0 }, { name: "READING", number: 1 }, { name: "ARCHIVE", number: 2 },
    ]);
    const counts = room.field("shelf_counts")!;
    expect([counts.repeated, counts.isMap, counts.message!.mapEntry, counts.message!.fullName]).toEqual([true, true, true, "library.v1.Room.ShelfCountsEntry"]);
    expect(room.field("tags")!.packed).toBe(false);
    expect(volume.field("kinds")!.packed).toBe(true);
    expect(volume.field("shelf")!.oneof).toBe("location");
    expect(volume.field("bin")!.oneof).toBe("location");
    // proto3 `optional`: a synthetic oneof, not a real one, and presence.
    expect(volume.field("note")!.oneof).toBeUndefined();
    expect(volume.field("note")!.explicitPresence).toBe(true);
    expect(volume.field("name")!.explicitPresence).toBe(false);
    expect(volume.field("edition")!.type).toBe("sint32");
    expect(volume.fieldByNumber(7)!.name).toBe("isbn");
    const related = volume.field("related")!;
    expect(related.isMap).toBe(true);
    expect(related.message!.fieldByNumber(1)!.type).toBe("int64");
    expect(related.message!.fieldByNumber(2)!.message).toBe(volume);
    expect(pool.message("google.protobuf.Value")!.field("null_value")!.enumType!.fullName).toBe("google.protobuf.NullValue");
    // descriptor.proto is proto2: its repeated scalars unpacked, its fields with presence.
    expect(pool.message("google.protobuf.FieldMask")!.field("paths")!.packed).toBe(false);
  });

  it("computes lowerCamelCase JSON names when json_name is absent", () => {
    const set = new ProtoWriter()
      .message(1, (file) =>
        file
          .string(1, "x.proto")
          .string(2, "x")
          .message(4, (m) => m.string(1, "M").message(2, (f) => f.string(1, "due_at_time").uint(3, 1).uint(4, 1).uint(5, 9)))
          .string(12, "proto3"),
      )
      .finish();
    expect(decodeDescriptorSet(set).message("x.M")!.field("due_at_time")!.jsonName).toBe("dueAtTime");
  });

  it("refuses an http rule without a pattern, and additional_bindings nested in one", () => {
    const withRule = (rule: (w: ProtoWriter) => void) =>
      new ProtoWriter()
        .message(1, (file) =>
          file
            .string(1, "x.proto")
            .string(2, "x")
            .message(4, (m) => m.string(1, "M"))
            .message(6, (svc) =>
              svc.string(1, "S").message(2, (method) =>
                method
                  .string(1, "Call")
                  .string(2, ".x.M")
                  .string(3, ".x.M")
                  // MethodOptions: google.api.http = 72295728.
                  .message(4, (options) => options.message(72295728, rule)),
              ),
            )
            .string(12, "proto3"),
        )
        .finish();
    expect(decodeDescriptorSet(withRule((r) => r.string(2, "/v1/m").message(11, (b) => b.string(4, "/v1/m2").string(7, "*")))).service("x.S")!.methods[0]!.httpRules).toEqual([
      { method: "GET", pattern: "/v1/m", body: "", responseBody: "" },
      { method: "POST", pattern: "/v1/m2", body: "*", responseBody: "" },
    ]);
    expect(() => decodeDescriptorSet(withRule((r) => r.string(7, "*")))).toThrow(
      "x.S.Call: its google.api.http rule sets no pattern (get, put, post, delete, patch or custom)",
    );
    expect(() => decodeDescriptorSet(withRule((r) => r.string(2, "/a").message(11, (b) => b.string(2, "/b").message(11, (c) => c.string(2, "/c")))))).toThrow(
      "x.S.Call: an additional_bindings rule has additional_bindings of its own (google/api/http.proto: the nesting may only be one level deep)",
    );
  });

  it("errors name what is wrong", () => {
    expect(() => decodeDescriptorSet(new TextEncoder().encode("{\"not\": \"protobuf\"}"))).toThrow(DescriptorError);
    expect(() => decodeDescriptorSet(new Uint8Array(0))).toThrow(
      "not a FileDescriptorSet: it holds no file (make it with protoc --include_imports --descriptor_set_out)",
    );
    const dangling = new ProtoWriter()
      .message(1, (file) =>
        file
          .string(1, "x.proto")
          .string(2, "x")
          .message(4, (m) => m.string(1, "M").message(2, (f) => f.string(1, "when").uint(3, 1).uint(4, 1).uint(5, 11).string(6, ".google.protobuf.Timestamp")))
          .string(12, "proto3"),
      )
      .finish();
    expect(() => decodeDescriptorSet(dangling)).toThrow(
      'field "when" of message x.M: type ".google.protobuf.Timestamp" is in no file of the descriptor set (was it made with --include_imports?)',
    );
  });
});
